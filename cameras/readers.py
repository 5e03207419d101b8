"""Long-running readers for streaming cameras (RTSP, MJPEG): one thread per camera, stream kept open.

Why not a short capture per sample for streams: every open repeats the RTSP
handshake and the codec probe, and an H.264 decoder cannot give a picture before
the next keyframe, so each short capture waits up to a whole GOP (1-4 s on
typical cameras) and costs a new TCP session on the camera. A kept-open reader
pays that once, grabs every packet (so the picture is never stale) and decodes
a full picture only at the sampling interval. README "cameras" has the figures.
HTTP snapshot and file cameras stay on short captures (`poll_cameras`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from django.core.cache import cache
from django.db import close_old_connections, connection
from django.utils import timezone

from config.exceptions import DomainError
from config.outages import BACKING_SERVICE_DOWN

from .capture import has_live_reader, open_stream, reader_key
from .choices import FrameSource, SourceKind
from .engine import images as engine_images
from .intake import receive_frame
from .models import Camera
from .redaction import redact
from .services import record_capture_failure, record_capture_success

logger = logging.getLogger("cameras.readers")

STREAM_KINDS = [SourceKind.RTSP, SourceKind.MJPEG]
HEARTBEAT_SECONDS = 15
RELOAD_SECONDS = 30

__all__ = ["STREAM_KINDS", "CameraReader", "ReaderPool", "has_live_reader"]


class CameraReader(threading.Thread):
    """Keeps one camera's stream open; sends a frame to the pipeline every sampling interval."""

    def __init__(self, camera_id: int, stop: threading.Event):
        super().__init__(name=f"camera-reader-{camera_id}", daemon=True)
        self.camera_id = camera_id
        self.stop = stop
        self.frames_sent = 0

    def _camera(self) -> Camera | None:
        close_old_connections()
        return Camera.objects.filter(pk=self.camera_id, enabled=True, source_kind__in=STREAM_KINDS).first()

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                camera = self._camera()
                if camera is None:
                    break
                failures = self._session(camera, failures)
            except BACKING_SERVICE_DOWN as exc:
                # PostgreSQL or Redis went away: wait and open the stream again once they are back.
                # No frame is accepted meanwhile, so none is lost; the thread itself must not die.
                failures += 1
                logger.warning("camera reader waiting for the database or cache",
                               extra={"camera_id": self.camera_id, "error": type(exc).__name__})
                self.stop.wait(min(2 ** failures, 60))
        with contextlib.suppress(*BACKING_SERVICE_DOWN):
            cache.delete(reader_key(self.camera_id))
        connection.close()  # this thread's own database connection

    def _session(self, camera: Camera, failures: int) -> int:
        """One open stream, read until it ends or the camera changes; returns the failure count."""
        capture = open_stream(camera)
        try:
            if not capture.isOpened():
                raise OSError(f"Could not open the stream at {redact(camera.url)}.")
            failures = 0
            self._read(camera, capture)
        except (OSError, DomainError) as exc:
            failures += 1
            message = exc.message if isinstance(exc, DomainError) else str(exc)
            record_capture_failure(camera=camera, error=message)
            logger.warning("camera reader error", extra={"camera_id": camera.pk, "error": redact(message)})
            self.stop.wait(min(camera.sample_interval_seconds * 2 ** failures, 300))
        finally:
            capture.release()
        return failures

    def _read(self, camera: Camera, capture) -> None:
        next_sample = 0.0
        next_beat = next_reload = time.monotonic()
        while not self.stop.is_set():
            if not capture.grab():
                raise OSError(f"The stream at {redact(camera.url)} stopped.")
            now = time.monotonic()
            if now >= next_beat:
                cache.set(reader_key(camera.pk), True, HEARTBEAT_SECONDS * 2)
                next_beat = now + HEARTBEAT_SECONDS
            if now >= next_sample:
                ok, picture = capture.retrieve()
                if not ok or picture is None:
                    raise OSError(f"A frame from {redact(camera.url)} could not be decoded.")
                data = engine_images.encode_jpeg(engine_images.from_bgr(picture))
                close_old_connections()
                receive_frame(camera=camera, data=data, captured_at=timezone.now(), source=FrameSource.PULL)
                record_capture_success(camera=camera)
                self.frames_sent += 1
                next_sample = now + camera.sample_interval_seconds
            if now >= next_reload:
                fresh = self._camera()
                if fresh is None or (
                    fresh.url, fresh.url_query_ciphertext, fresh.username, fresh.password_ciphertext
                ) != (camera.url, camera.url_query_ciphertext, camera.username, camera.password_ciphertext):
                    return  # disabled or changed: reopen (or stop) with the new settings
                camera.sample_interval_seconds = fresh.sample_interval_seconds
                next_reload = now + RELOAD_SECONDS


class ReaderPool:
    """Starts a reader per enabled streaming camera and follows cameras being added or removed."""

    def __init__(self, *, kinds: list[str] | None = None):
        self.kinds = kinds or STREAM_KINDS
        self.stop = threading.Event()
        self.readers: dict[int, CameraReader] = {}

    def sync(self) -> None:
        close_old_connections()
        wanted = set(
            Camera.objects.filter(enabled=True, source_kind__in=self.kinds).values_list("pk", flat=True)
        )
        for camera_id in wanted:
            reader = self.readers.get(camera_id)
            if reader is None or not reader.is_alive():
                reader = CameraReader(camera_id, self.stop)
                self.readers[camera_id] = reader
                reader.start()
        for camera_id in list(self.readers):
            if camera_id not in wanted and not self.readers[camera_id].is_alive():
                del self.readers[camera_id]

    def run(self, *, rescan_seconds: float = RELOAD_SECONDS) -> None:
        while not self.stop.is_set():
            try:
                self.sync()
            except BACKING_SERVICE_DOWN as exc:  # the readers already running carry on
                logger.warning("camera readers could not rescan", extra={"error": type(exc).__name__})
            self.stop.wait(rescan_seconds)
        self.shutdown()

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        for reader in self.readers.values():
            reader.join(timeout)
