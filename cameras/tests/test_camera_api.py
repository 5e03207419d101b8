"""Camera CRUD: credentials are write-only and never shown, URLs are redacted, permissions by role."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from cameras.biometrics import decrypt_text
from cameras.models import Camera
from cameras.redaction import redact, split_credentials, with_credentials
from cameras.tests.factories import CameraFactory

pytestmark = pytest.mark.django_db


def test_create_moves_url_password_into_encrypted_field_and_never_returns_it(admin_user, client_for, room):
    client = client_for(admin_user)
    response = client.post(
        "/api/v1/cameras",
        {"name": "front", "room": room.pk, "source_kind": "rtsp",
         "url": "rtsp://cam:s3cret-pass@10.1.2.3:554/stream1", "sample_interval_seconds": 2},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "s3cret-pass" not in str(body)
    assert body["url"] == "rtsp://10.1.2.3:554/stream1"
    assert body["has_password"] is True and body["username"] == "cam"
    assert "password" not in body
    camera = Camera.objects.get(pk=body["id"])
    assert camera.url == "rtsp://10.1.2.3:554/stream1"
    assert b"s3cret-pass" not in bytes(camera.password_ciphertext)
    assert decrypt_text(camera.password_ciphertext) == "s3cret-pass"
    event = AuditEvent.objects.get(action="camera.created")
    assert "s3cret-pass" not in str(event.details)


def test_password_is_write_only_on_update(admin_user, client_for, room):
    camera = CameraFactory(room=room, source_kind="http_snapshot", url="http://127.0.0.1:9/snap.jpg")
    client = client_for(admin_user)
    response = client.patch(f"/api/v1/cameras/{camera.pk}", {"password": "another-secret"}, format="json")
    assert response.status_code == 200
    assert "another-secret" not in str(response.json())
    camera.refresh_from_db()
    assert decrypt_text(camera.password_ciphertext) == "another-secret"


def test_detect_size_is_set_per_camera_within_limits(admin_user, client_for, room):
    camera = CameraFactory(room=room)
    client = client_for(admin_user)
    response = client.patch(f"/api/v1/cameras/{camera.pk}", {"detect_max_side": 0}, format="json")
    assert response.status_code == 200 and response.json()["detect_max_side"] == 0
    too_big = client.patch(f"/api/v1/cameras/{camera.pk}", {"detect_max_side": 9000}, format="json")
    assert too_big.status_code == 400
    assert "detect_max_side" in str(too_big.json())
    camera.refresh_from_db()
    assert camera.detect_max_side == 0
    assert client.patch(f"/api/v1/cameras/{camera.pk}", {"detect_max_side": None}, format="json").status_code == 200
    camera.refresh_from_db()
    assert camera.detect_max_side is None


def test_rtsp_camera_needs_rtsp_url(admin_user, client_for, room):
    response = client_for(admin_user).post(
        "/api/v1/cameras", {"name": "x", "room": room.pk, "source_kind": "rtsp", "url": "http://a/b"}, format="json"
    )
    assert response.status_code == 400
    assert not Camera.objects.exists()


def test_staff_can_list_but_not_create(staff_user, client_for, room, django_assert_max_num_queries):
    CameraFactory.create_batch(3, room=room)
    client = client_for(staff_user)
    # auth user + role perms, count, page (rooms, buildings and devices joined): no per-row queries.
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/cameras")
    assert response.status_code == 200
    assert response.json()["count"] == 3
    response = client.post("/api/v1/cameras", {"name": "x", "room": room.pk}, format="json")
    assert response.status_code == 403


def test_list_query_count_does_not_grow_with_rows(admin_user, client_for, room, django_assert_num_queries):
    client = client_for(admin_user)
    CameraFactory.create_batch(2, room=room)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get("/api/v1/cameras")
    CameraFactory.create_batch(10, room=room)
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get("/api/v1/cameras")
    assert response.json()["count"] == 12


def test_camera_with_sightings_cannot_be_deleted(admin_user, client_for, enrolled_obama, camera):
    from cameras.tests.conftest import ingest, photo_bytes

    ingest(camera, photo_bytes("obama2.jpg"))
    response = client_for(admin_user).delete(f"/api/v1/cameras/{camera.pk}")
    assert response.status_code == 409
    assert Camera.objects.filter(pk=camera.pk).exists()


def test_redaction_of_urls_and_secrets():
    assert redact("failed to open rtsp://admin:hunter22@10.0.0.5/live") == "failed to open rtsp://***@10.0.0.5/live"
    assert redact("GET http://cam/snap.jpg?user=a&password=xyz&x=1") == "GET http://cam/snap.jpg?user=***&password=***&x=***"
    assert redact("error hunter22 happened", "hunter22") == "error *** happened"
    url, user, password = split_credentials("rtsp://u%40x:p%3Ass@host:554/a")
    assert (url, user, password) == ("rtsp://host:554/a", "u@x", "p:ss")
    assert with_credentials(url, user, password) == "rtsp://u%40x:p%3Ass@host:554/a"


SNAPSHOT = "http://10.1.2.9/cgi-bin/snapshot.cgi?loginuse=admin&loginpas=Secret-77"


def test_a_password_under_any_query_key_is_stored_encrypted_and_never_shown(admin_user, staff_user, client_for, room):
    from django.test import Client

    from cameras.capture import stream_url

    response = client_for(admin_user).post(
        "/api/v1/cameras",
        {"name": "door", "room": room.pk, "source_kind": "http_snapshot", "url": SNAPSHOT},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert "Secret-77" not in response.content.decode()
    assert response.json()["url"] == "http://10.1.2.9/cgi-bin/snapshot.cgi?***"
    camera = Camera.objects.get(pk=response.json()["id"])
    assert camera.url == "http://10.1.2.9/cgi-bin/snapshot.cgi"  # the column holds no query
    assert b"Secret-77" not in bytes(camera.url_query_ciphertext)
    assert stream_url(camera) == SNAPSHOT  # what the reader opens
    assert "Secret-77" not in str(AuditEvent.objects.get(action="camera.created").details)

    for client in (client_for(admin_user), client_for(staff_user)):
        assert "Secret-77" not in client.get("/api/v1/cameras").content.decode()
    staff_row = client_for(staff_user).get(f"/api/v1/cameras/{camera.pk}").json()
    assert staff_row["url"] == "" and staff_row["username"] == ""  # staff never see stream URLs

    browser = Client()
    browser.force_login(admin_user)
    for page in ("/admin/cameras/camera/", f"/admin/cameras/camera/{camera.pk}/change/",
                 "/admin/accounts/auditevent/"):
        page_response = browser.get(page)
        assert page_response.status_code == 200, page
        assert "Secret-77" not in page_response.content.decode(), page
