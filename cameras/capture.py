"""Reading frames from pulled cameras: RTSP, MJPEG over HTTP, HTTP snapshots and video files.

Short captures: each due camera gets one `capture_camera` task that opens the
source, takes one frame, and closes it. Right for HTTP snapshots and files; for
RTSP/MJPEG streams `run_camera_readers` keeps the stream open instead (see
`cameras.readers` and README "cameras" for the measurements), and the short
capture remains the fallback for a stream camera no reader is serving.

The pulled cameras' Celery tasks live here too (`poll_cameras`, `capture_camera`,
under their historical names `cameras.tasks.*`): they sit above intake, which sends
the frame task, so nothing below imports back up. A live reader's heartbeat key is
here as well, so planning can skip a camera a reader serves without importing readers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import cv2
import httpx
import numpy as np
from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from config.exceptions import DomainError

from . import metrics
from .biometrics import decrypt_text
from .choices import CameraStatus, FrameSource, SourceKind
from .engine import images as engine_images
from .intake import receive_frame, requeue_stale_frames
from .models import Camera
from .redaction import redact, with_credentials, with_query
from .services import record_capture_failure, record_capture_success, set_camera_status

logger = logging.getLogger("cameras.capture")


def reader_key(camera_id: int) -> str:
    return f"cameras:reader:{camera_id}"


def has_live_reader(camera_id: int) -> bool:
    """A long-running reader (run_camera_readers) is feeding this camera (its heartbeat is fresh)."""
    return bool(cache.get(reader_key(camera_id)))


class CaptureError(Exception):
    """A camera could not be read; the message is already free of credentials."""


def _password(camera: Camera) -> str:
    return decrypt_text(camera.password_ciphertext)


def stream_url(camera: Camera) -> str:
    """The stored URL with its (encrypted) query string put back; no user:password."""
    return with_query(camera.url, decrypt_text(camera.url_query_ciphertext))


def open_stream(camera: Camera) -> cv2.VideoCapture:
    """An OpenCV capture of the camera's stream (credentials put back in the URL, never logged)."""
    timeout_ms = settings.CAMERA_CAPTURE_TIMEOUT_SECONDS * 1000
    if camera.source_kind == SourceKind.FILE:
        return cv2.VideoCapture(camera.url)
    url = with_credentials(stream_url(camera), camera.username, _password(camera))
    return cv2.VideoCapture(
        url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    )


def _read_stream(camera: Camera) -> bytes:
    capture = open_stream(camera)
    try:
        if not capture.isOpened():
            raise CaptureError(f"Could not open the {camera.get_source_kind_display()} at {redact(camera.url)}.")
        if camera.source_kind == SourceKind.FILE:
            _seek_file(camera, capture)
        ok, frame = capture.read()
        if not ok or frame is None:
            if camera.source_kind == SourceKind.FILE:
                # Past the end of the file: start again at the beginning next time.
                cache.delete(_file_position_key(camera))
            raise CaptureError(f"No frame could be read from {redact(camera.url)}.")
        return engine_images.encode_jpeg(engine_images.from_bgr(np.ascontiguousarray(frame)), quality=90)
    finally:
        capture.release()


def _file_position_key(camera: Camera) -> str:
    return f"cameras:file-position:{camera.pk}"


def _seek_file(camera: Camera, capture: cv2.VideoCapture) -> None:
    """A file source plays at its sampling interval: each read is one interval further in."""
    key = _file_position_key(camera)
    position_ms = cache.get(key) or 0.0
    capture.set(cv2.CAP_PROP_POS_MSEC, position_ms)
    cache.set(key, position_ms + camera.sample_interval_seconds * 1000, None)


def _read_snapshot(camera: Camera) -> bytes:
    password = _password(camera)
    auth = (camera.username, password) if camera.username else None
    try:
        response = httpx.get(
            stream_url(camera), auth=auth, timeout=settings.CAMERA_CAPTURE_TIMEOUT_SECONDS, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        raise CaptureError(redact(f"Snapshot request failed: {type(exc).__name__}: {exc}", password))
    if response.status_code != 200:
        raise CaptureError(f"The snapshot URL {redact(camera.url)} answered HTTP {response.status_code}.")
    return response.content


def read_frame(camera: Camera) -> bytes:
    """JPEG/PNG bytes of the camera's current picture, or CaptureError."""
    if camera.source_kind == SourceKind.HTTP_SNAPSHOT:
        return _read_snapshot(camera)
    if camera.source_kind in (SourceKind.RTSP, SourceKind.MJPEG, SourceKind.FILE):
        return _read_stream(camera)
    raise CaptureError("Push cameras are not read by the workers.")


def capture_once(camera: Camera) -> str:
    """Read, hand the frame to the pipeline, and keep the camera's health.

    Returns what happened: captured, static (dropped by the motion gate), duplicate or failed.
    """
    now = timezone.now()
    try:
        data = read_frame(camera)
        receipt = receive_frame(camera=camera, data=data, captured_at=now, source=FrameSource.PULL)
    except (CaptureError, DomainError, cv2.error, OSError) as exc:
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        message = redact(message, camera.username, _password(camera))
        metrics.CAPTURE_FAILURES.labels(kind=camera.source_kind).inc()
        record_capture_failure(camera=camera, error=message, at=now)
        logger.warning("camera read failed", extra={"camera_id": camera.pk, "error": message,
                                                     "failures": camera.consecutive_failures})
        return "failed"
    record_capture_success(camera=camera, at=now)
    if receipt.frame is None:
        return "static"
    return "duplicate" if receipt.duplicate else "captured"


def in_backoff(camera: Camera, now: datetime) -> bool:
    """A camera whose last reads failed waits out its backoff; planned captures meanwhile are dropped."""
    return camera.consecutive_failures > 0 and camera.next_poll_at is not None and camera.next_poll_at > now


def capture_due_cameras(*, now: datetime) -> int:
    """Plans the captures of every pulled camera whose time has come, until the next beat.

    The beat runs every CAMERA_POLL_PERIOD_SECONDS (30); a camera sampled every 2 s
    gets its captures for that period as tasks with a countdown, so it is read at
    its own interval. The row's next_poll_at is claimed with a conditional UPDATE,
    so overlapping beats plan a camera once. Returns the number of captures planned.
    """
    period = settings.CAMERA_POLL_PERIOD_SECONDS
    due = list(
        Camera.objects.pulled()
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .values_list("pk", "sample_interval_seconds")
    )
    planned = 0
    for camera_id, interval in due:
        if has_live_reader(camera_id):
            continue  # a long-running reader (run_camera_readers) already feeds this camera
        # Held until the next beat; a capture moves it on success, or further on failure (backoff).
        hold = now + timedelta(seconds=max(period, interval))
        claimed = Camera.objects.filter(pk=camera_id).filter(
            Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now)
        ).update(next_poll_at=hold)
        if not claimed:
            continue
        count = max(1, min(int(period // interval), settings.CAMERA_MAX_CAPTURES_PER_POLL))
        for index in range(count):
            capture_camera.apply_async((camera_id,), countdown=index * interval)
            planned += 1
    return planned


def mark_silent_push_cameras(*, now: datetime) -> int:
    """Push cameras that stopped sending go offline (and count against the room's coverage)."""
    stale = now - timedelta(seconds=settings.CAMERA_PUSH_STALE_SECONDS)
    silent = Camera.objects.filter(source_kind=SourceKind.PUSH, enabled=True, status=CameraStatus.ONLINE).filter(
        Q(last_frame_at__lt=stale) | Q(last_frame_at__isnull=True)
    )
    count = 0
    for camera in silent:
        if set_camera_status(camera=camera, status=CameraStatus.OFFLINE, reason="no frames pushed", at=now):
            count += 1
    return count


def capture_camera_by_id(camera_id: int, *, now: datetime) -> dict:
    """One read of a pulled camera unless it is gone or backing off: what `capture_camera` reports."""
    camera = Camera.objects.filter(pk=camera_id, enabled=True).select_related("room").first()
    if camera is None:
        return {"camera": camera_id, "result": "gone"}
    if in_backoff(camera, now):
        return {"camera": camera_id, "result": "backing_off"}
    return {"camera": camera_id, "result": capture_once(camera)}


# The tasks: thin, with the base task's retries (config.celery.CampusTask).
@shared_task(name="cameras.tasks.poll_cameras", bind=True, acks_late=True, ignore_result=True)
def poll_cameras(self) -> dict:
    """Beat: read every pulled camera that is due, mark silent push cameras offline, requeue stale frames."""
    now = timezone.now()
    summary = {"captured": capture_due_cameras(now=now), "silent": mark_silent_push_cameras(now=now)}
    summary.update(requeue_stale_frames(now=now))
    logger.info("cameras polled", extra={"task_id": self.request.id, **summary})
    return summary


@shared_task(name="cameras.tasks.capture_camera", bind=True, acks_late=True, ignore_result=True)
def capture_camera(self, camera_id: int) -> dict:
    """Read one frame from a pulled camera (rtsp, http_snapshot, mjpeg, file) and queue it."""
    return capture_camera_by_id(camera_id, now=timezone.now())
