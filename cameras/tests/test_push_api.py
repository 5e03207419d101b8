"""POST /api/v1/cameras/{id}/frames: who may push, 202 + frame id, duplicates, bad images, size, rate."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from cameras.choices import CameraStatus, FrameState
from cameras.models import Camera, FaceSighting, Frame
from cameras.tests.conftest import jpeg, photo_bytes, read_rgb
from cameras.tests.factories import CameraFactory
from devices.tests.factories import DeviceFactory, give_credential

pytestmark = pytest.mark.django_db


def push(client, camera, data: bytes, *, name="frame.jpg", captured_at=None, **extra):
    payload = {"image": SimpleUploadedFile(name, data, content_type="image/jpeg")}
    if captured_at:
        payload["captured_at"] = captured_at
    return client.post(f"/api/v1/cameras/{camera.pk}/frames", payload, format="multipart", **extra)


def assert_refused_and_nothing_stored(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content[:300]
    assert response.json()["error"]["code"] == code
    assert not Frame.objects.exists()


@pytest.fixture
def admin_client(admin_user, client_for):
    return client_for(admin_user)


def test_push_returns_202_with_frame_id_and_processes(admin_client, enrolled_obama, camera,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = push(admin_client, camera, photo_bytes("obama2.jpg"), captured_at="2026-11-23T10:00:00Z")
    assert response.status_code == 202, response.json()
    body = response.json()
    frame = Frame.objects.get(pk=body["frame"])
    assert body["duplicate"] is False
    assert frame.state == FrameState.DONE
    assert frame.captured_at.isoformat().startswith("2026-11-23T10:00:00")
    assert FaceSighting.objects.get(frame=frame).student == enrolled_obama
    camera.refresh_from_db()
    assert camera.status == CameraStatus.ONLINE and camera.last_frame_at is not None


def test_same_frame_twice_gives_same_id_and_is_processed_once(admin_client, enrolled_obama, camera,
                                                              django_capture_on_commit_callbacks):
    data = photo_bytes("obama2.jpg")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = push(admin_client, camera, data).json()
        second = push(admin_client, camera, data).json()
    assert first["frame"] == second["frame"]
    assert second["duplicate"] is True
    assert len(callbacks) >= 1
    assert Frame.objects.count() == 1
    assert FaceSighting.objects.count() == 1


def test_unchanged_scene_is_200_with_no_frame_and_keeps_the_camera_online(
    admin_client, enrolled_obama, camera, django_capture_on_commit_callbacks, settings
):
    image = read_rgb("obama_480p.jpg")
    with django_capture_on_commit_callbacks(execute=True):
        first = push(admin_client, camera, jpeg(image, quality=90))
    Camera.objects.filter(pk=camera.pk).update(last_frame_at=None, status=CameraStatus.OFFLINE)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = push(admin_client, camera, jpeg(image, quality=80))
    assert first.status_code == 202
    assert response.status_code == 200, response.json()
    body = response.json()
    motion = body.pop("motion")
    assert body == {"frame": None, "state": "skipped", "reason": "no_motion", "duplicate": False}
    assert 0 <= motion < settings.FACE_MOTION_MIN_CHANGE
    assert callbacks == []  # nothing queued
    assert Frame.objects.count() == 1
    camera.refresh_from_db()
    assert camera.status == CameraStatus.ONLINE and camera.last_frame_at is not None


def test_frame_resent_after_processing_gets_its_id_back(admin_client, enrolled_obama, camera,
                                                       django_capture_on_commit_callbacks):
    data = photo_bytes("obama2.jpg")
    with django_capture_on_commit_callbacks(execute=True):
        first = push(admin_client, camera, data)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = push(admin_client, camera, data)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["frame"] == first.json()["frame"] and again.json()["duplicate"] is True
    assert again.json()["state"] == "done"
    assert callbacks == []
    assert FaceSighting.objects.count() == 1


def test_not_an_image_is_400_and_stores_nothing(admin_client, camera):
    response = push(admin_client, camera, b"hello, I am text", name="x.jpg")
    assert_refused_and_nothing_stored(response, 400, "not_an_image")


def test_corrupt_image_is_400(admin_client, camera):
    data = photo_bytes("obama2.jpg")
    broken = data[:400] + bytes(range(256)) * 4
    response = push(admin_client, camera, broken)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"corrupt", "not_an_image"}
    assert not Frame.objects.exists()


def test_too_large_body_is_413(admin_client, camera, settings):
    settings.REQUEST_BODY_LIMITS = {**settings.REQUEST_BODY_LIMITS, "/api/v1/cameras/": 50_000}
    response = push(admin_client, camera, photo_bytes("obama2.jpg"))
    assert_refused_and_nothing_stored(response, 413, "payload_too_large")


def test_image_claiming_huge_dimensions_is_refused_before_decoding(admin_client, camera, settings):
    settings.FACE_MAX_IMAGE_PIXELS = 100_000
    response = push(admin_client, camera, photo_bytes("obama2.jpg"))
    assert_refused_and_nothing_stored(response, 413, "image_too_large")


def test_too_many_frames_per_camera_is_429(admin_client, camera, settings):
    settings.FRAME_PUSH_PER_MINUTE = 2
    import cv2


    image = cv2.resize(read_rgb("obama_480p.jpg"), (160, 90))
    codes = [push(admin_client, camera, jpeg(image, quality=50 + i)).status_code for i in range(3)]
    assert codes == [202, 202, 429]
    response = push(admin_client, camera, jpeg(image, quality=70))
    assert response.status_code == 429
    assert response["Retry-After"]
    assert Frame.objects.count() == 2
    # Another camera has its own allowance.
    other = CameraFactory(room=camera.room)
    assert push(admin_client, other, jpeg(image, quality=71)).status_code == 202


def test_bound_device_may_push(camera, django_capture_on_commit_callbacks):
    device = DeviceFactory()
    Camera.objects.filter(pk=camera.pk).update(device=device)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Device {give_credential(device)}")
    response = push(client, camera, photo_bytes("obama_480p.jpg"))
    assert response.status_code == 202, response.json()
    assert Frame.objects.filter(pk=response.json()["frame"], camera=camera).exists()


def test_other_device_may_not_push(camera):
    Camera.objects.filter(pk=camera.pk).update(device=DeviceFactory())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Device {give_credential(DeviceFactory())}")
    response = push(client, camera, photo_bytes("obama_480p.jpg"))
    assert response.status_code == 403
    assert not Frame.objects.exists()


def test_device_cannot_use_the_rest_of_the_camera_api(camera):
    device = DeviceFactory()
    Camera.objects.filter(pk=camera.pk).update(device=device)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Device {give_credential(device)}")
    assert client.get("/api/v1/cameras").status_code == 403
    assert client.patch(f"/api/v1/cameras/{camera.pk}", {"name": "x"}).status_code == 403


def test_staff_without_manage_cameras_cannot_push(staff_user, client_for, camera):
    response = push(client_for(staff_user), camera, photo_bytes("obama_480p.jpg"))
    assert response.status_code == 403
    assert not Frame.objects.exists()


def test_anonymous_cannot_push(camera):
    response = push(APIClient(), camera, photo_bytes("obama_480p.jpg"))
    assert response.status_code == 401


def test_push_while_redis_is_down_is_503_and_stores_nothing(admin_client, camera, redis_down):
    response = push(admin_client, camera, photo_bytes("obama_480p.jpg"))
    assert response.status_code == 503, response.content[:300]
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response["Retry-After"]
    assert not Frame.objects.exists()


def test_push_is_accepted_when_only_the_rate_limit_cache_is_down(admin_client, camera, ratelimit_cache_down, settings):
    import cv2

    settings.FRAME_PUSH_PER_MINUTE = 1
    image = cv2.resize(read_rgb("obama_480p.jpg"), (160, 90))
    codes = [push(admin_client, camera, jpeg(image, quality=50 + i)).status_code for i in range(2)]
    assert codes == [202, 202]  # fails open: the limit is not counted, the frames are not refused
    assert Frame.objects.count() == 2


def _png_claiming(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def test_a_header_claiming_50000_by_50000_is_413_like_enrolment(admin_client, camera):
    response = push(admin_client, camera, _png_claiming(50_000, 50_000))
    assert_refused_and_nothing_stored(response, 413, "image_too_large")
