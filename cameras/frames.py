"""Frames in: accept (push, pull, replay), deduplicate, rate-limit, and claim for processing."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from config.errors import Conflict, InvalidInput, PayloadTooLarge, RateLimited

from . import metrics
from .choices import FRAME_TRANSITIONS, CameraStatus, FrameSource, FrameState, SourceKind
from .engine import images as engine_images
from .models import Camera, Frame

logger = logging.getLogger("cameras.frames")

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


def check_push_rate(camera: Camera) -> None:
    """At most FRAME_PUSH_PER_MINUTE frames a minute per camera (a fixed one-minute window in the cache)."""
    limit = settings.FRAME_PUSH_PER_MINUTE
    if limit <= 0:
        return
    now = time.time()
    window = int(now // 60)
    key = f"cameras:push-rate:{camera.pk}:{window}"
    cache.add(key, 0, 120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 120)
        count = 1
    if count > limit:
        raise RateLimited(
            f"Camera {camera.pk} sent more than {limit} frames this minute.",
            retry_after=max(1, int(60 - now % 60)),
            details={"limit_per_minute": limit},
        )


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

    `store` keeps the bytes on disk for a worker; `enqueue` sends the processing task
    after commit. ingest_video passes neither and processes the bytes in-process.
    """
    if not camera.enabled:
        raise Conflict("The camera is disabled.", code="camera_disabled")
    fmt, width, height, signature = check_image(data)
    if source == FrameSource.PUSH:
        check_push_rate(camera)
    captured_at = captured_at or timezone.now()
    from .pipeline import motion_gate

    # The motion gate runs at intake, on the thumbnail the check above decoded anyway, and
    # before any database work: a static scene costs a header read, a 1/8 decode and one
    # cache read. Nothing is stored for it; the metric counts it.
    static, score, last_processed = motion_gate(camera.pk, signature, captured_at.timestamp())
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
    _note_pushed_frame(camera)
    if enqueue:
        from .tasks import process_frame

        frame_id = frame.pk
        transaction.on_commit(lambda: process_frame.delay(frame_id))
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
        from .services import set_camera_status

        set_camera_status(camera=camera, status=CameraStatus.ONLINE, reason="frames pushed", at=now)


def claim_frame(frame_id: int) -> Frame | None:
    """Takes the frame for this worker with one conditional UPDATE; None if someone else has it or it is done.

    A frame left `processing` by a worker that died is claimable again after
    FRAME_CLAIM_TIMEOUT_SECONDS; a frame out of attempts is not claimed (see `fail_exhausted`).
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.FRAME_CLAIM_TIMEOUT_SECONDS)
    claimed = (
        Frame.objects.filter(pk=frame_id, attempts__lt=settings.FRAME_MAX_ATTEMPTS)
        .filter(Q(state=FrameState.PENDING) | Q(state=FrameState.PROCESSING, claimed_at__lt=stale))
        .update(state=FrameState.PROCESSING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if claimed != 1:
        return None
    return Frame.objects.select_related("camera", "camera__room").get(pk=frame_id)


def transition(frame: Frame, state: str, *, reason: str = "", **fields) -> None:
    """Moves a claimed frame to `state`; refuses moves FRAME_TRANSITIONS does not allow."""
    if state not in FRAME_TRANSITIONS[frame.state]:
        raise ValueError(f"A frame cannot go from {frame.state} to {state}.")
    updates = {"state": state, "reason": reason[:300], **fields}
    if state in (FrameState.DONE, FrameState.SKIPPED, FrameState.FAILED):
        updates["processed_at"] = timezone.now()
    if state == FrameState.PENDING:
        updates["claimed_at"] = None
    Frame.objects.filter(pk=frame.pk).update(**updates)
    for name, value in updates.items():
        setattr(frame, name, value)


def release_image(frame: Frame, *, write: bool = True) -> dict:
    """Deletes the frame's bytes after processing (after commit), unless FRAME_KEEP_IMAGES.

    Returns the field update; with `write=False` the caller folds it into its own UPDATE.
    """
    if settings.FRAME_KEEP_IMAGES or not frame.image:
        return {}
    name = frame.image.name
    if write:
        Frame.objects.filter(pk=frame.pk).update(image="")
    frame.image = ""

    def delete() -> None:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete frame image; the purge will", extra={"frame_id": frame.pk})

    transaction.on_commit(delete)
    return {"image": ""}


def fail_frame(frame: Frame, reason: str) -> None:
    transition(frame, FrameState.FAILED, reason=reason, **release_image(frame, write=False))
    metrics.FRAMES_FAILED.labels(reason=reason.split(":")[0][:40]).inc()
    logger.warning("frame failed", extra={"frame_id": frame.pk, "reason": reason})


def requeue_stale_frames(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Frames whose task was lost (pending too long) or whose worker died (processing past the timeout).

    Out of attempts -> failed with the reason; otherwise the processing task is sent again.
    """
    from .tasks import process_frame

    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.FRAME_CLAIM_TIMEOUT_SECONDS)
    exhausted = list(
        Frame.objects.filter(state__in=[FrameState.PENDING, FrameState.PROCESSING],
                             attempts__gte=settings.FRAME_MAX_ATTEMPTS)
        .filter(Q(claimed_at__lt=stale) | Q(claimed_at__isnull=True))[:limit]
    )
    for frame in exhausted:
        fail_frame(frame, f"gave_up: still unprocessed after {frame.attempts} attempts")
    waiting = list(
        Frame.objects.filter(attempts__lt=settings.FRAME_MAX_ATTEMPTS)
        .filter(
            Q(state=FrameState.PENDING, created_at__lt=stale)
            | Q(state=FrameState.PROCESSING, claimed_at__lt=stale)
        )
        .values_list("pk", flat=True)[:limit]
    )
    for frame_id in waiting:
        process_frame.delay(frame_id)
    return {"failed": len(exhausted), "requeued": len(waiting)}
