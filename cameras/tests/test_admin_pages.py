"""Face enrolment from the student's admin page, and the unknown-face review page."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import AuditEvent
from campus.tests.factories import StudentFactory

from ..models import FaceEnrolment, UnknownFace
from .conftest import consenting_student, no_face_photo, photo_bytes
from .test_review import two_biden_faces  # noqa: F401  a fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_web(client, make_user):
    client.force_login(make_user(role="admin", username="boss"))
    return client


def upload(data: bytes) -> dict:
    return {"photo": SimpleUploadedFile("face.jpg", data, content_type="image/jpeg")}


def test_enrolment_needs_consent_and_says_so(admin_web):
    student = StudentFactory()
    page = admin_web.get(f"/admin/campus/student/{student.pk}/enrol-face/")
    assert page.status_code == 200
    assert "Record the student's consent first" in page.content.decode()
    assert 'id="enrol-form"' not in page.content.decode()


def test_a_photo_without_a_face_gets_a_verdict_and_enrols_nothing(admin_web):
    student = consenting_student()
    page = admin_web.post(f"/admin/campus/student/{student.pk}/enrol-face/", upload(no_face_photo()))
    assert page.status_code == 200
    assert "Not enrolled." in page.content.decode()
    assert not FaceEnrolment.objects.filter(student=student).exists()


def test_a_good_photo_is_enrolled_through_the_service(admin_web):
    student = consenting_student()
    page = admin_web.post(f"/admin/campus/student/{student.pk}/enrol-face/", upload(photo_bytes("obama.jpg")))
    assert page.status_code == 302
    enrolment = FaceEnrolment.objects.get(student=student)
    assert AuditEvent.objects.filter(action="face.enrolled", target=f"student:{student.pk}",
                                     details__via="admin").exists()
    change_page = admin_web.get(f"/admin/campus/student/{student.pk}/change/").content.decode()
    assert enrolment.engine_version not in change_page, "no engine names or hashes shown to people"


def test_staff_cannot_enrol_faces(client, make_user):
    client.force_login(make_user(role="staff"))
    student = consenting_student()
    assert client.get(f"/admin/campus/student/{student.pk}/enrol-face/").status_code == 403


def test_dismissing_from_the_review_page_deletes_the_face(admin_web, two_biden_faces):  # noqa: F811
    face = UnknownFace.objects.first()
    page = admin_web.post(f"/admin/cameras/unknownface/{face.pk}/review/", {"dismiss": "1"})
    assert page.status_code == 302
    assert not UnknownFace.objects.filter(pk=face.pk).exists()
