"""Enrolment API and services, with the real photos: one face, quality, consent, duplicates, erasure."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

from accounts.models import AuditEvent
from cameras.biometrics import decrypt_vector
from cameras.engine import get_engine
from cameras.models import FaceEnrolment
from cameras.tests.conftest import consenting_student, no_face_photo, photo_bytes
from campus.tests.factories import StudentFactory
from config.storage import stored_names

pytestmark = pytest.mark.django_db


def upload(client, student, name_or_bytes, filename="face.jpg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = photo_bytes(name_or_bytes) if isinstance(name_or_bytes, str) else name_or_bytes
    return client.post(
        f"/api/v1/students/{student.pk}/faces",
        {"image": SimpleUploadedFile(filename, data, content_type="image/jpeg")},
        format="multipart",
    )


@pytest.fixture
def admin_client(admin_user, client_for):
    return client_for(admin_user)


def test_enrol_one_face_stores_encrypted_embedding_and_returns_no_vector(admin_client, obama, settings):
    settings.FACE_ENROLMENT_PHOTO_RETENTION_DAYS = 0
    response = upload(admin_client, obama, "obama.jpg")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["student"] == obama.pk
    assert body["engine_name"] == "dlib"
    assert body["has_photo"] is False  # retention 0: the photo is not kept
    assert "embedding" not in str(body).lower()
    enrolment = FaceEnrolment.objects.get(student=obama)
    assert not enrolment.photo
    assert AuditEvent.objects.filter(action="face.enrolled", target=f"student:{obama.pk}").exists()


def test_embedding_column_holds_ciphertext_not_the_vector(admin_client, obama):
    assert upload(admin_client, obama, "obama.jpg").status_code == 201
    enrolment = FaceEnrolment.objects.get(student=obama)
    with connection.cursor() as cursor:
        cursor.execute("SELECT embedding_ciphertext FROM cameras_faceenrolment WHERE id = %s", [enrolment.pk])
        raw = bytes(cursor.fetchone()[0])
    vector = decrypt_vector(raw)
    assert vector.shape == (128,)
    plain = vector.astype(np.float32).tobytes()
    assert plain not in raw
    assert plain[:16] not in raw and vector.astype(np.float64).tobytes()[:16] not in raw
    assert raw.startswith(b"gAAAA")  # a Fernet token


def test_photo_without_face_is_refused_saying_none(admin_client, obama):
    response = upload(admin_client, obama, no_face_photo())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_face"
    assert "No face" in response.json()["error"]["message"]
    assert not FaceEnrolment.objects.exists()


def test_photo_with_two_faces_is_refused_saying_several(admin_client, obama):
    response = upload(admin_client, obama, "obama_and_biden.jpg")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "several_faces"
    assert error["details"]["faces"] == 2
    assert not FaceEnrolment.objects.exists()


def test_small_face_is_refused_with_quality_reason(admin_client, obama):
    import cv2

    from cameras.tests.conftest import jpeg, read_rgb

    tiny = cv2.resize(read_rgb("obama.jpg"), None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA)
    response = upload(admin_client, obama, jpeg(tiny))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "poor_quality"
    assert any("too small" in reason for reason in error["details"]["reasons"])
    assert not FaceEnrolment.objects.exists()


def test_corrupt_bytes_are_a_400(admin_client, obama):
    data = photo_bytes("obama.jpg")
    response = upload(admin_client, obama, data[:200] + b"\x00" * 50)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"corrupt", "not_an_image"}
    response = upload(admin_client, obama, b"this is not an image at all")
    assert response.status_code == 400
    assert not FaceEnrolment.objects.exists()


def test_student_without_consent_is_refused(admin_client, db):
    student = StudentFactory(face_consent_at=None)
    response = upload(admin_client, student, "obama.jpg")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "no_face_consent"
    assert not FaceEnrolment.objects.exists()


def test_face_already_enrolled_for_another_student_is_409(admin_client, obama, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(admin_client, obama, "obama.jpg").status_code == 201
    impostor = consenting_student()
    response = upload(admin_client, impostor, "obama2.jpg")
    assert response.status_code == 409
    assert response.json()["error"]["details"]["student_id"] == obama.pk
    assert not FaceEnrolment.objects.filter(student=impostor).exists()


def test_staff_without_enroll_faces_cannot_enrol(staff_user, client_for, obama):
    response = upload(client_for(staff_user), obama, "obama.jpg")
    assert response.status_code in (403, 404)
    assert not FaceEnrolment.objects.exists()


def test_list_shows_metadata_only(admin_client, enrolled_obama):
    response = admin_client.get(f"/api/v1/students/{enrolled_obama.pk}/faces")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["student"] == enrolled_obama.pk
    assert set(row) == {"id", "student", "engine_name", "engine_version", "face_box", "face_size_px",
                        "sharpness", "has_photo", "photo_delete_after", "created_by", "created_at"}


def _all_files():
    """Every file in the storage (database rows by default; MEDIA_ROOT only with STORAGE_BACKEND=filesystem)."""
    return stored_names()


def test_erase_removes_every_biometric_row_and_file(admin_client, obama, settings, camera,
                                                      django_capture_on_commit_callbacks):
    from cameras.models import UnknownFace
    from cameras.tests.conftest import ingest

    settings.FACE_ENROLMENT_PHOTO_RETENTION_DAYS = 30
    settings.FRAME_KEEP_IMAGES = True
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(admin_client, obama, "obama.jpg").status_code == 201
        assert upload(admin_client, obama, "obama2.jpg").status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        frame = ingest(camera, photo_bytes("obama_480p.jpg"))
    assert frame.sightings.get().student == obama
    assert FaceEnrolment.objects.filter(student=obama).exclude(photo="").count() == 2
    assert _all_files()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/api/v1/students/{obama.pk}/faces/erase")
    assert response.status_code == 200
    assert response.json()["deleted"]["enrolments"] == 2
    assert not FaceEnrolment.objects.filter(student=obama).exists()
    assert not UnknownFace.objects.filter(assigned_student=obama).exists()
    assert _all_files() == []
    event = AuditEvent.objects.get(action="face.biometrics_erased")
    assert event.target == f"student:{obama.pk}"
    assert event.details["enrolments"] == 2


def test_deleting_the_last_enrolment_erases_everything(admin_client, enrolled_obama,
                                                        django_capture_on_commit_callbacks):
    enrolment = FaceEnrolment.objects.get(student=enrolled_obama)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.delete(f"/api/v1/students/{enrolled_obama.pk}/faces/{enrolment.pk}")
    assert response.status_code == 200
    assert not FaceEnrolment.objects.exists()
    assert AuditEvent.objects.filter(action="face.biometrics_erased").exists()


def test_enrol_faces_of_same_person_embed_close(enrolled_obama):
    # Sanity of the stored vector: it decrypts to what the engine computes for the photo.
    from cameras.services import decode_or_400, single_face

    stored = decrypt_vector(FaceEnrolment.objects.get(student=enrolled_obama).embedding_ciphertext)
    found = single_face(decode_or_400(photo_bytes("obama.jpg")), get_engine())
    assert np.linalg.norm(stored - found.vector) < 1e-4


def test_withdrawing_consent_erases_the_students_biometrics(admin_client, enrolled_obama, settings, camera,
                                                             django_capture_on_commit_callbacks):
    from cameras.recognition import current_gallery
    from cameras.tests.conftest import ingest

    settings.FACE_ENROLMENT_PHOTO_RETENTION_DAYS = 30
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(admin_client, enrolled_obama, "obama2.jpg").status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        ingest(camera, photo_bytes("obama_480p.jpg"))
    assert FaceEnrolment.objects.filter(student=enrolled_obama).count() == 2
    assert _all_files()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/api/v1/students/{enrolled_obama.pk}/face-consent", {"given": False},
                                     format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["has_face_consent"] is False
    assert not FaceEnrolment.objects.filter(student=enrolled_obama).exists()
    assert _all_files() == []
    assert enrolled_obama.pk not in current_gallery().students.tolist()
    withdrawn = AuditEvent.objects.get(action="campus.student.face_consent_withdrawn")
    erased = AuditEvent.objects.get(action="face.biometrics_erased")
    assert erased.target == withdrawn.target == f"student:{enrolled_obama.pk}"
    assert erased.details["enrolments"] == 2


def test_withdrawal_is_rolled_back_when_erasure_fails(enrolled_obama, admin_user, monkeypatch):
    from campus.models import Student
    from campus.services import record_face_consent

    def broken(**kwargs):
        raise OSError("storage unavailable")

    monkeypatch.setattr("cameras.services.erase_biometrics", broken)
    with pytest.raises(OSError):
        record_face_consent(student=enrolled_obama, given=False, actor=admin_user)
    # Consent stays recorded while the data it covers still exists.
    assert Student.objects.get(pk=enrolled_obama.pk).face_consent_at is not None
    assert FaceEnrolment.objects.filter(student=enrolled_obama).exists()
    assert not AuditEvent.objects.filter(action="campus.student.face_consent_withdrawn").exists()


def test_erasure_completes_while_redis_is_down(enrolled_obama, redis_down, django_capture_on_commit_callbacks,
                                               caplog):
    from cameras.services import erase_biometrics

    with django_capture_on_commit_callbacks(execute=True):
        counts = erase_biometrics(student=enrolled_obama)
    assert counts["enrolments"] == 1
    assert not FaceEnrolment.objects.exists()
    assert "gallery change not published" in caplog.text


def test_a_process_rebuilds_its_gallery_at_the_age_limit_without_a_change_notice(enrolled_obama, settings):
    from cameras.recognition import current_gallery

    assert current_gallery().students.tolist() == [enrolled_obama.pk]
    FaceEnrolment.objects.all().delete()  # as if the change notice had been lost
    settings.FACE_GALLERY_MAX_AGE_SECONDS = 3600
    assert current_gallery().students.tolist() == [enrolled_obama.pk]
    settings.FACE_GALLERY_MAX_AGE_SECONDS = 0
    assert current_gallery().students.tolist() == []


def test_another_persons_photo_on_an_enrolled_student_is_409_saying_why(admin_client, obama,
                                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(admin_client, obama, "obama2.jpg").status_code == 201
    response = upload(admin_client, obama, "biden.jpg")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "face_differs_from_enrolments"
    assert error["details"]["distance"] > error["details"]["bound"]
    assert FaceEnrolment.objects.filter(student=obama).count() == 1


def test_another_photo_of_the_same_person_is_enrolled_beside_the_first(admin_client, obama,
                                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(admin_client, obama, "obama2.jpg").status_code == 201
    assert upload(admin_client, obama, "obama.jpg").status_code == 201
    assert FaceEnrolment.objects.filter(student=obama).count() == 2


def test_an_admin_replaces_a_students_enrolments_deliberately(admin_client, obama,
                                                               django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    with django_capture_on_commit_callbacks(execute=True):
        assert upload(admin_client, obama, "obama2.jpg").status_code == 201
    old = FaceEnrolment.objects.get(student=obama)
    response = admin_client.post(
        f"/api/v1/students/{obama.pk}/faces",
        {"image": SimpleUploadedFile("face.jpg", photo_bytes("biden.jpg"), content_type="image/jpeg"),
         "replace": "true"},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert list(FaceEnrolment.objects.filter(student=obama).values_list("pk", flat=True)) == [response.json()["id"]]
    assert response.json()["id"] != old.pk
    event = AuditEvent.objects.get(action="face.enrolments_replaced", target=f"student:{obama.pk}")
    assert event.details["enrolment_ids"] == [old.pk]


def test_a_large_photo_is_decoded_at_reduced_size_for_enrolment(obama):
    import cv2

    from cameras.services import ENROLMENT_DECODE_SIDE, decode_or_400, enrol_face
    from cameras.tests.conftest import jpeg, read_rgb

    portrait = read_rgb("obama2.jpg")
    big = cv2.resize(portrait, None, fx=4200 / portrait.shape[1], fy=4200 / portrait.shape[1])
    data = jpeg(big, quality=85)
    decoded = decode_or_400(data, min_side=ENROLMENT_DECODE_SIDE)
    assert max(decoded.shape[:2]) == -(-max(big.shape[:2]) // 2)  # decoded at 1/2, not 4200 px wide
    enrolment = enrol_face(student=obama, image_bytes=data, via="test")
    assert enrolment.face_size_px >= 64
def test_enrolment_commits_while_redis_is_down(admin_client, obama, redis_down):
    # The duplicate check reads the gallery; without Redis it is built from the database.
    from cameras.recognition import forget_gallery

    forget_gallery()
    response = upload(admin_client, obama, "obama.jpg")
    assert response.status_code == 201, response.content
    assert FaceEnrolment.objects.filter(student=obama).count() == 1
