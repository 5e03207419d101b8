"""Admin pages: camera password masked, URL redacted, face inline with thumbnails."""

from __future__ import annotations

import pytest
from django.conf import settings

from cameras.biometrics import encrypt_text
from cameras.models import FaceEnrolment
from cameras.tests.factories import CameraFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_web(client, make_user):
    user = make_user(role="admin", username="boss", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_camera_admin_never_shows_the_password(admin_web, room):
    camera = CameraFactory(room=room, source_kind="rtsp", url="rtsp://10.0.0.9/live", username="viewer",
                           password_ciphertext=encrypt_text("topsecret-9"),
                           last_error="could not open rtsp://viewer:topsecret-9@10.0.0.9/live")
    base = f"/{settings.ADMIN_URL}cameras/camera/"
    for url in (base, f"{base}{camera.pk}/change/"):
        response = admin_web.get(url)
        assert response.status_code == 200
        assert b"topsecret-9" not in response.content
    assert b"rtsp://***@10.0.0.9/live" in admin_web.get(f"{base}{camera.pk}/change/").content


def test_camera_added_and_changed_in_the_admin_keeps_the_password_write_only(admin_web, room):
    from cameras.biometrics import decrypt_text
    from cameras.models import Camera

    base = f"/{settings.ADMIN_URL}cameras/camera/"
    form = {
        "name": "Room cam",
        "room": room.pk,
        "source_kind": "rtsp",
        "url": "rtsp://10.0.0.9/live",
        "username": "viewer",
        "new_password": "s3cret-pass",
        "sample_interval_seconds": 5,
        "enabled": "on",
        "device": "",
    }
    response = admin_web.post(f"{base}add/", form)
    assert response.status_code == 302, response.content[:500]
    camera = Camera.objects.get(name="Room cam")
    assert decrypt_text(camera.password_ciphertext) == "s3cret-pass"
    # Changing the name with an empty password field keeps the stored password.
    response = admin_web.post(f"{base}{camera.pk}/change/", {**form, "name": "Renamed", "new_password": ""})
    assert response.status_code == 302
    camera.refresh_from_db()
    assert camera.name == "Renamed"
    assert decrypt_text(camera.password_ciphertext) == "s3cret-pass"


def test_student_admin_shows_face_inline_with_thumbnail(admin_web, obama, settings, django_capture_on_commit_callbacks):
    from cameras.services import enrol_face
    from cameras.tests.conftest import photo_bytes

    settings.FACE_ENROLMENT_PHOTO_RETENTION_DAYS = 7
    with django_capture_on_commit_callbacks(execute=True):
        enrol_face(student=obama, image_bytes=photo_bytes("obama.jpg"))
    assert FaceEnrolment.objects.get(student=obama).photo
    response = admin_web.get(f"/{settings.ADMIN_URL}campus/student/{obama.pk}/change/")
    assert response.status_code == 200
    assert b"data:image/jpeg;base64," in response.content
    assert b"embedding" not in response.content.lower()
