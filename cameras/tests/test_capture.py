"""Pulled cameras against real servers on 127.0.0.1: an HTTP snapshot server and an RTSP stream from ffmpeg."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import shutil
import socket
import threading

import pytest
from django.utils import timezone

from attendance.models import AttendanceRecord
from cameras.capture import capture_due_cameras, capture_once
from cameras.choices import CameraStatus, FrameSource
from cameras.models import Camera, CameraStatusChange, FaceSighting, Frame
from cameras.services import create_camera
from cameras.tests.conftest import photo_bytes
from cameras.tests.rtsp_server import RTSPRelay, ffmpeg_publishing
from cameras.tests.videos import build_video

pytestmark = pytest.mark.django_db


class SnapshotServer:
    """A camera's snapshot URL: GET /snap.jpg with basic auth user:pw, serving whatever `image` holds."""

    def __init__(self, image: bytes, *, credentials: str = "viewer:pa55-word"):
        self.image, self.requests = image, 0
        self.expected_auth = "Basic " + base64.b64encode(credentials.encode()).decode()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                if self.headers.get("Authorization") != server.expected_auth:
                    self.send_response(401)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(server.image)))
                self.end_headers()
                self.wfile.write(server.image)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_http_snapshot_camera_is_read_recognised_and_online(enrolled_obama, room, settings,
                                                             django_capture_on_commit_callbacks):
    settings.FACE_STRONG_MATCH_DISTANCE = 0.2
    settings.CAMERA_POLL_PERIOD_SECONDS = 1  # one capture per beat here; eager Celery ignores countdowns
    with SnapshotServer(photo_bytes("obama_480p.jpg")) as server:
        camera = create_camera(
            name="door", room=room, source_kind="http_snapshot",
            url=f"http://viewer:pa55-word@127.0.0.1:{server.port}/snap.jpg", sample_interval_seconds=1,
        )
        assert "pa55-word" not in camera.url
        with django_capture_on_commit_callbacks(execute=True):
            assert capture_due_cameras(now=timezone.now()) == 1
    assert server.requests == 1
    camera.refresh_from_db()
    assert camera.status == CameraStatus.ONLINE
    assert camera.consecutive_failures == 0 and camera.last_frame_at is not None
    frame = Frame.objects.get(camera=camera)
    assert frame.source == FrameSource.PULL
    assert frame.sightings.get().student == enrolled_obama
    assert AttendanceRecord.objects.filter(student=enrolled_obama).count() == 1


def test_each_beat_plans_captures_at_the_camera_interval(room, settings, monkeypatch):
    settings.CAMERA_POLL_PERIOD_SECONDS = 30
    planned = []
    monkeypatch.setattr("cameras.capture.capture_camera.apply_async",
                        lambda args, countdown: planned.append((args[0], countdown)))
    fast = create_camera(name="fast", room=room, source_kind="http_snapshot", url="http://127.0.0.1:9/a.jpg",
                         sample_interval_seconds=2)
    slow = create_camera(name="slow", room=room, source_kind="http_snapshot", url="http://127.0.0.1:9/b.jpg",
                         sample_interval_seconds=60)
    create_camera(name="pushed", room=room, source_kind="push")
    now = timezone.now()
    assert capture_due_cameras(now=now) == 16
    assert [c for cam, c in planned if cam == fast.pk] == [2 * i for i in range(15)]
    assert [c for cam, c in planned if cam == slow.pk] == [0]
    # A second beat inside the period plans nothing more.
    assert capture_due_cameras(now=now + dt.timedelta(seconds=5)) == 0
    slow.refresh_from_db()
    assert slow.next_poll_at == now + dt.timedelta(seconds=60)


def test_failing_camera_backs_off_goes_offline_and_comes_back(enrolled_obama, room, settings):
    settings.CAMERA_OFFLINE_AFTER_FAILURES = 3
    port = free_port()  # nothing listens here yet
    camera = create_camera(name="hall", room=room, source_kind="http_snapshot",
                           url=f"http://viewer:pa55-word@127.0.0.1:{port}/snap.jpg", sample_interval_seconds=1)
    Camera.objects.filter(pk=camera.pk).update(status=CameraStatus.ONLINE)
    camera.refresh_from_db()
    delays = []
    for _ in range(3):
        before = timezone.now()
        assert capture_once(camera) == "failed"
        camera.refresh_from_db()
        delays.append((camera.next_poll_at - before).total_seconds())
        assert "pa55-word" not in camera.last_error
    assert delays[0] < delays[1] < delays[2]  # exponential backoff
    assert camera.status == CameraStatus.OFFLINE
    assert camera.consecutive_failures == 3
    # Not due again until the backoff has passed.
    assert capture_due_cameras(now=timezone.now()) == 0

    with SnapshotServer(photo_bytes("obama_480p.jpg")) as server:
        Camera.objects.filter(pk=camera.pk).update(url=f"http://127.0.0.1:{server.port}/snap.jpg")
        camera.refresh_from_db()
        assert capture_once(camera) == "captured"
    camera.refresh_from_db()
    assert camera.status == CameraStatus.ONLINE and camera.consecutive_failures == 0
    assert list(CameraStatusChange.objects.filter(camera=camera).values_list("status", flat=True)) == [
        CameraStatus.OFFLINE, CameraStatus.ONLINE,
    ]


def test_wrong_password_is_an_error_that_never_shows_the_password(room, db):
    with SnapshotServer(photo_bytes("obama_480p.jpg")) as server:
        camera = create_camera(name="c", room=room, source_kind="http_snapshot",
                               url=f"http://viewer:not-the-pass@127.0.0.1:{server.port}/snap.jpg")
        assert capture_once(camera) == "failed"
    camera.refresh_from_db()
    assert "401" in camera.last_error
    assert "not-the-pass" not in camera.last_error


def test_coverage_follows_camera_status_history(room, session, db):
    from attendance.services import assess_coverage

    camera = create_camera(name="c", room=room, source_kind="push")
    start = session.scheduled_start
    CameraStatusChange.objects.create(camera=camera, status="online", at=start - dt.timedelta(minutes=5))
    CameraStatusChange.objects.create(camera=camera, status="offline", at=start + dt.timedelta(minutes=15))
    CameraStatusChange.objects.create(camera=camera, status="online", at=start + dt.timedelta(minutes=45))
    session.status = "closed"
    session.closed_at = session.scheduled_end
    session.save()
    from cameras.selectors import room_camera_coverage

    coverage = room_camera_coverage(room.pk, start, session.scheduled_end)
    # Online for minutes 0-15 and 45-60 of the hour.
    assert coverage == pytest.approx(30 / 60)
    value, _ = assess_coverage(session)
    assert value is not None and value <= 1.0


@pytest.fixture
def published_stream(tmp_path):
    """An RTSP server on 127.0.0.1 (user viewer) carrying Obama's photo, published by Debian's ffmpeg."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    video = tmp_path / "class.mp4"
    build_video(video, ["obama_480p.jpg"], hold_seconds=4, move_seconds=0.1, fps=15)
    relay = RTSPRelay(username="viewer", password="Lens:Cap-42").start()
    try:
        with ffmpeg_publishing(video, relay, tmp_path / "ffmpeg.log"):
            yield relay
    finally:
        relay.stop()


@pytest.mark.slow
def test_rtsp_camera_fed_by_ffmpeg(enrolled_obama, room, settings, published_stream,
                                   django_capture_on_commit_callbacks):
    """The capture is an RTSP client: DESCRIBE, 401, Basic auth, SETUP over TCP, PLAY, H.264 decoding."""
    settings.FACE_STRONG_MATCH_DISTANCE = 0.2
    camera = create_camera(name="rtsp", room=room, source_kind="rtsp",
                           url=published_stream.url().replace("rtsp://", "rtsp://viewer:Lens%3ACap-42@"),
                           sample_interval_seconds=1)
    assert camera.username == "viewer" and "Lens" not in camera.url
    with django_capture_on_commit_callbacks(execute=True):
        result = capture_once(camera)
    assert result == "captured", camera.last_error
    assert published_stream.refused_auth >= 1 and published_stream.plays == 1
    camera.refresh_from_db()
    assert camera.status == CameraStatus.ONLINE
    sighting = FaceSighting.objects.get(camera=camera)
    assert sighting.student == enrolled_obama
    assert AttendanceRecord.objects.filter(student=enrolled_obama).count() == 1


@pytest.mark.slow
def test_rtsp_camera_with_wrong_password_fails_without_showing_it(room, published_stream, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    camera = create_camera(name="rtsp", room=room, source_kind="rtsp", url=published_stream.url(),
                           username="viewer", password="Wrong-Secret-9", sample_interval_seconds=1)
    assert capture_once(camera) == "failed"
    assert published_stream.plays == 0 and published_stream.refused_auth >= 1
    camera.refresh_from_db()
    assert camera.consecutive_failures == 1 and "Could not open" in camera.last_error
    assert not Frame.objects.exists()
    logged = " ".join(str(record.__dict__) for record in caplog.records)
    assert "Wrong-Secret-9" not in logged + camera.last_error


def test_stream_password_never_reaches_logs_errors_or_the_api(room, caplog, admin_user, client_for):
    import logging

    caplog.set_level(logging.DEBUG)
    port = free_port()
    camera = create_camera(name="secret", room=room, source_kind="mjpeg",
                           url=f"http://admin:Zebra-Horse-77@127.0.0.1:{port}/video.mjpg")
    assert capture_once(camera) == "failed"
    camera.refresh_from_db()
    logged = " ".join(str(record.__dict__) for record in caplog.records)
    assert "Zebra-Horse-77" not in logged
    assert "Zebra-Horse-77" not in camera.last_error
    body = client_for(admin_user).get(f"/api/v1/cameras/{camera.pk}").content.decode()
    assert "Zebra-Horse-77" not in body
