"""Frame rows once received: the claim by a worker, state transitions, the bytes' release, failure.

Used by the task and the pipeline (`cameras.tasks`, `cameras.pipeline`); frames come in
through `cameras.intake`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from . import metrics
from .choices import FRAME_TRANSITIONS, FrameState
from .models import Frame

logger = logging.getLogger("cameras.frames")


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


def fail_exhausted_frames(*, now: datetime, limit: int = 500) -> int:
    """Frames out of attempts whose last claim is stale: failed with the reason; returns how many."""
    stale = now - timedelta(seconds=settings.FRAME_CLAIM_TIMEOUT_SECONDS)
    exhausted = list(
        Frame.objects.filter(state__in=[FrameState.PENDING, FrameState.PROCESSING],
                             attempts__gte=settings.FRAME_MAX_ATTEMPTS)
        .filter(Q(claimed_at__lt=stale) | Q(claimed_at__isnull=True))[:limit]
    )
    for frame in exhausted:
        fail_frame(frame, f"gave_up: still unprocessed after {frame.attempts} attempts")
    return len(exhausted)


def stale_frame_ids(*, now: datetime, limit: int = 500) -> list[int]:
    """Frames whose task was lost (pending too long) or whose worker died (processing past the timeout)."""
    stale = now - timedelta(seconds=settings.FRAME_CLAIM_TIMEOUT_SECONDS)
    return list(
        Frame.objects.filter(attempts__lt=settings.FRAME_MAX_ATTEMPTS)
        .filter(
            Q(state=FrameState.PENDING, created_at__lt=stale)
            | Q(state=FrameState.PROCESSING, claimed_at__lt=stale)
        )
        .values_list("pk", flat=True)[:limit]
    )
