"""Unknown faces: grouped by similarity, assigned (enrolling the person) or dismissed; lists and metrics."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from accounts.models import AuditEvent
from cameras.models import FaceEnrolment, FaceSighting, UnknownFace, UnknownFaceGroup
from cameras.tests.conftest import ingest, jpeg, photo_bytes, read_rgb

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_biden_faces(enrolled_obama, biden, camera):
    """Biden seen twice (two photos), far apart in time so both are kept."""
    start = timezone.now()
    ingest(camera, photo_bytes("biden.jpg"), captured_at=start)
    image = read_rgb("obama_and_biden.jpg")
    ingest(camera, jpeg(image), captured_at=start + dt.timedelta(seconds=30))
    return biden


def test_unknown_faces_of_one_person_share_a_group(two_biden_faces):
    faces = list(UnknownFace.objects.all())
    assert len(faces) == 2
    assert len({face.group_id for face in faces}) == 1
    assert UnknownFaceGroup.objects.get().size == 2


def test_assigning_a_group_enrols_the_person_and_later_frames_recognise_them(
    two_biden_faces, admin_user, client_for, camera, django_capture_on_commit_callbacks
):
    group = UnknownFaceGroup.objects.get()
    client = client_for(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/unknown-face-groups/{group.pk}/assign", {"student": two_biden_faces.pk},
                               format="json")
    assert response.status_code == 200, response.json()
    assert FaceEnrolment.objects.filter(student=two_biden_faces).count() == 1
    assert set(UnknownFace.objects.values_list("status", flat=True)) == {"assigned"}
    assert AuditEvent.objects.filter(action="face.enrolled", target=f"student:{two_biden_faces.pk}").exists()
    later = timezone.now() + dt.timedelta(minutes=1)
    frame = ingest(camera, jpeg(read_rgb("biden.jpg"), quality=85), captured_at=later)
    assert FaceSighting.objects.get(frame=frame).student == two_biden_faces


def test_dismiss_deletes_crop_and_embedding(two_biden_faces, admin_user, client_for,
                                            django_capture_on_commit_callbacks):
    from django.core.files.storage import default_storage

    face = UnknownFace.objects.first()
    crop = face.crop.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin_user).post(f"/api/v1/unknown-faces/{face.pk}/dismiss")
    assert response.status_code == 200
    assert not UnknownFace.objects.filter(pk=face.pk).exists()
    assert not default_storage.exists(crop)


def test_staff_teaching_nothing_see_no_unknown_faces(two_biden_faces, staff_user, client_for):
    # Faces seen outside the sessions of sections one teaches are for campus-wide reviewers.
    client = client_for(staff_user)
    face = UnknownFace.objects.first()
    assert client.get("/api/v1/unknown-faces").json()["results"] == []
    assert client.get(f"/api/v1/unknown-faces/{face.pk}/crop").status_code == 404
    response = client.post(f"/api/v1/unknown-faces/{face.pk}/assign", {"student": two_biden_faces.pk},
                           format="json")
    assert response.status_code == 404
    assert not FaceEnrolment.objects.filter(student=two_biden_faces).exists()


@pytest.mark.parametrize("url", ["/api/v1/unknown-faces", "/api/v1/face-sightings", "/api/v1/unknown-face-groups"])
def test_list_query_count_does_not_grow(two_biden_faces, admin_user, client_for, camera, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(admin_user)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for index in range(3):
        ingest(camera, jpeg(read_rgb("biden.jpg"), quality=60 + index),
               captured_at=timezone.now() + dt.timedelta(minutes=5 + index))
    with CaptureQueriesContext(connection) as more:
        assert client.get(url).status_code == 200
    assert len(more.captured_queries) == len(few.captured_queries)


def test_metrics_count_frames_and_faces(enrolled_obama, camera):
    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (value("campus_frames_processed_total"), value("campus_faces_detected_total"),
              value("campus_faces_recognised_total"), value("campus_faces_unknown_total"))
    ingest(camera, photo_bytes("obama_and_biden.jpg"))
    after = (value("campus_frames_processed_total"), value("campus_faces_detected_total"),
             value("campus_faces_recognised_total"), value("campus_faces_unknown_total"))
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 2, 1, 1]
    assert value("campus_frame_stage_seconds_count", stage="detect") >= 1


def test_dashboard_status_source_counts_cameras(camera):
    from attendance.dashboard import status_sources

    camera.status = "online"
    camera.save()
    assert status_sources()["cameras"] == {"online": 1, "offline": 0, "error": 0, "total": 1}


def test_session_face_summary(enrolled_obama, camera, session, admin_user, client_for):
    ingest(camera, photo_bytes("obama_and_biden.jpg"))
    response = client_for(admin_user).get(f"/api/v1/sessions/{session.pk}/faces")
    assert response.status_code == 200
    body = response.json()
    assert body["students_recognised"] == 1
    assert body["unrecognised_people"] == 1
    assert (body["faces_detected"], body["faces_recognised"], body["faces_unrecognised"]) == (2, 1, 1)


def test_camera_frames_list_for_staff(enrolled_obama, camera, staff_user, client_for):
    frame = ingest(camera, photo_bytes("obama2.jpg"))
    response = client_for(staff_user).get(f"/api/v1/cameras/{camera.pk}/frames")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["id"] == frame.pk and row["state"] == "done" and row["faces_detected"] == 1
    assert "image" not in row
