"""A frame's intake, for every source (push, pull, replay): receive, validate, gate, store, enqueue.

The one way a frame enters: `receive_frame` checks the header and decodes a 1/8-scale
thumbnail once (the motion signature), applies the per-camera rate limit, runs the
motion gate once, deduplicates by sha256, stores the bytes and sends `tasks.process_frame`
after commit. The worker side (claim, decode, detect, ...) is `cameras.pipeline`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.exceptions import Conflict, InvalidInput, PayloadTooLarge
from config.ratelimits import Outage, RateLimit

from . import frames, gate, metrics, tasks
from .choices import CameraStatus, FrameSource, FrameState, SourceKind
from .engine import images as engine_images
from .models import Camera, Frame
from .services import set_camera_status

logger = logging.getLogger("cameras.intake")

EXTENSIONS = {"JPEG": "jpg", "PNG": "png"}
LAST_FRAME_RESOLUTION = 5  # seconds


def check_image(data: bytes) -> tuple[str, int, int, np.ndarray]:
    """Format and size from the header (no full decode); 400 / 413 with the reason otherwise.

    A cheap 1/8-scale decode also runs, so bytes that are not a decodable image are
    refused here rather than failing later in a worker.
    """
    try:
        fmt, width, height = engine_images.read_header(data)
    except engine_images.ImageRejected as exc:
        if exc.reason == "too_large":  # a header claiming a huge image: 413, as enrolment answers
            raise PayloadTooLarge(exc.message, code="image_too_large")
        raise InvalidInput(exc.message, code=exc.reason)
    if fmt not in engine_images.ACCEPTED_FORMATS:
        raise InvalidInput(f"Image format {fmt or 'unknown'} is not accepted; send JPEG or PNG.",
                           code="unsupported_format")
    if width * height > settings.FACE_MAX_IMAGE_PIXELS:
        raise PayloadTooLarge(
            f"The image is {width}x{height} pixels; at most {settings.FACE_MAX_IMAGE_PIXELS} pixels are accepted.",
            code="image_too_large",
        )
    signature = engine_images.motion_signature_from_bytes(data)
    if signature is None:
        raise InvalidInput("The image data is corrupt and could not be decoded.", code="corrupt")
    return fmt, width, height, signature


# Frames are telemetry and the limit fails open: with the cache down a camera is not
# refused here (the motion gate, which needs the cache too, answers for itself).
PUSH_LIMIT = RateLimit(name="frame push", on_outage=Outage.FAIL_OPEN)


def check_push_rate(camera: Camera) -> None:
    """At most FRAME_PUSH_PER_MINUTE frames a minute per camera (0: no limit); 429 with Retry-After beyond it."""
    limit = settings.FRAME_PUSH_PER_MINUTE
    if limit <= 0:
        return
    message = f"Camera {camera.pk} sent more than {limit} frames this minute."
    PUSH_LIMIT.enforce_per_minute("cameras.push", f"camera:{camera.pk}", limit, message=message)


@dataclass(frozen=True)
class FrameReceipt:
    """What intake did with a frame. `frame` is None when the motion gate dropped it: a static
    scene leaves no row, file or task behind, only the skipped-frames metric."""

    frame: Frame | None
    duplicate: bool = False
    motion: float = 1.0

    @property
    def state(self) -> str:
        return self.frame.state if self.frame is not None else FrameState.SKIPPED

    @property
    def reason(self) -> str:
        return self.frame.reason if self.frame is not None else "no_motion"

    @property
    def queued(self) -> bool:
        """A new frame waiting for a worker (or for the caller, with enqueue=False)."""
        return self.frame is not None and not self.duplicate


def receive_frame(
    *,
    camera: Camera,
    data: bytes,
    captured_at: datetime | None = None,
    source: str = FrameSource.PUSH,
    store: bool = True,
    enqueue: bool = True,
) -> FrameReceipt:
    """Accepts a frame. The same bytes again return the first frame, which is processed once;
    a frame that barely differs from the camera's last processed one is dropped here.

    `store` keeps the bytes in the file storage for a worker; `enqueue` sends the processing task
    after commit. ingest_video passes neither and processes the bytes in-process.
    The thumbnail decoded here is held for the worker, which makes it the gate's baseline
    once the frame is processed (the gate runs and the thumbnail is decoded once per frame).
    """
    if not camera.enabled:
        raise Conflict("The camera is disabled.", code="camera_disabled")
    fmt, width, height, signature = check_image(data)
    if source == FrameSource.PUSH:
        check_push_rate(camera)
    captured_at = captured_at or timezone.now()
    # The motion gate runs here only, on the thumbnail the check above decoded anyway, and
    # before any database work: a static scene costs a header read, a 1/8 decode and one
    # cache read. Nothing is stored for it; the metric counts it.
    static, score, last_processed = gate.motion_gate(camera.pk, signature, captured_at.timestamp())
    if static:
        # A resend of the very frame last processed (a device retrying) gets that frame back;
        # the length check keeps the hash off the path of every other static frame.
        if last_processed is not None and last_processed[0] == len(data):
            digest = hashlib.sha256(data).hexdigest()
            if digest == last_processed[1]:
                existing = Frame.objects.filter(camera=camera, sha256=digest).first()
                if existing is not None:
                    metrics.FRAMES_DUPLICATE.inc()
                    return FrameReceipt(frame=existing, duplicate=True, motion=score)
        metrics.FRAMES_RECEIVED.labels(source=source).inc()
        metrics.FRAMES_SKIPPED.labels(reason="no_motion").inc()
        _note_pushed_frame(camera)
        return FrameReceipt(frame=None, motion=score)
    digest = hashlib.sha256(data).hexdigest()
    existing = Frame.objects.filter(camera=camera, sha256=digest).first()
    if existing is not None:
        metrics.FRAMES_DUPLICATE.inc()
        return FrameReceipt(frame=existing, duplicate=True, motion=score)
    frame = Frame(
        camera=camera, captured_at=captured_at, sha256=digest, source=source, width=width, height=height,
        motion=score,
    )
    if store:
        frame.image.save(f"{camera.pk}-{digest[:24]}.{EXTENSIONS[fmt]}", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            frame.save()
    except IntegrityError:
        # Another request stored the same bytes a moment ago: theirs wins.
        if store and frame.image.name:
            default_storage.delete(frame.image.name)
        metrics.FRAMES_DUPLICATE.inc()
        return FrameReceipt(frame=Frame.objects.get(camera=camera, sha256=digest), duplicate=True, motion=score)
    metrics.FRAMES_RECEIVED.labels(source=source).inc()
    gate.hold_signature(frame.pk, signature)
    _note_pushed_frame(camera)
    if enqueue:
        frame_id = frame.pk
        transaction.on_commit(lambda: tasks.process_frame.delay(frame_id))
    return FrameReceipt(frame=frame, motion=score)


def _note_pushed_frame(camera: Camera) -> None:
    """A push camera is alive while frames arrive, static ones included (pulled cameras: capture.py)."""
    if camera.source_kind != SourceKind.PUSH:
        return
    now = timezone.now()
    # Seconds are enough for "last frame" and for the silent-camera check: one write per few frames.
    if camera.last_frame_at is None or now - camera.last_frame_at >= timedelta(seconds=LAST_FRAME_RESOLUTION):
        Camera.objects.filter(pk=camera.pk).update(last_frame_at=now)
        camera.last_frame_at = now
    if camera.status != CameraStatus.ONLINE:
        set_camera_status(camera=camera, status=CameraStatus.ONLINE, reason="frames pushed", at=now)


def requeue_stale_frames(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Frames whose task was lost (pending too long) or whose worker died (processing past the timeout).

    Out of attempts -> failed with the reason; otherwise the processing task is sent again.
    """
    now = now or timezone.now()
    failed = frames.fail_exhausted_frames(now=now, limit=limit)
    waiting = frames.stale_frame_ids(now=now, limit=limit)
    for frame_id in waiting:
        tasks.process_frame.delay(frame_id)
    return {"failed": failed, "requeued": len(waiting)}
