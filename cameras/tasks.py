"""The frame worker's task (queue `frames`; see config/celery.py). Its purgers run in the nightly
`config.tasks.purge_expired`.

`process_frame` is sent by `cameras.intake` and hands the frame to `cameras.pipeline`
(claim, decode, detect, ...). The pulled cameras' tasks (`poll_cameras`,
`capture_camera`) live with the capture code in `cameras.capture`, above intake,
so a frame's path imports one way: intake -> tasks -> pipeline.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from config.outages import TRANSIENT_ERRORS

from . import pipeline
from .choices import FrameState
from .frames import fail_frame, transition
from .models import Frame

logger = logging.getLogger("cameras.tasks")


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=True)
def process_frame(self, frame_id: int) -> dict | None:
    """Claim and process one frame. Idempotent: a frame already claimed or finished is left alone.

    Transient errors (database, cache) put the frame back and retry with backoff;
    anything else marks the frame failed with the reason, so it never blocks the queue.
    """
    try:
        report = pipeline.process_frame_id(frame_id)
    except TRANSIENT_ERRORS as exc:  # the frame waits and is retried
        try:
            frame = Frame.objects.filter(pk=frame_id).first()
        except DatabaseError:  # the database itself is what failed
            frame = None
        attempts = frame.attempts if frame is not None else self.request.retries + 1
        logger.warning("frame processing hit a transient error; retrying",
                       extra={"frame_id": frame_id, "task_id": self.request.id, "error": str(exc)[:200]})
        if frame is not None and frame.state == FrameState.PROCESSING:
            if attempts >= settings.FRAME_MAX_ATTEMPTS:
                fail_frame(frame, f"transient_errors: {type(exc).__name__} on {attempts} attempts")
                return None
            transition(frame, FrameState.PENDING, reason=f"retrying after {type(exc).__name__}")
        if self.request.retries + 1 >= settings.FRAME_MAX_ATTEMPTS:
            # The frame's own row could not be reached; the stale-frame sweep will finish the job.
            return None
        raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 60))
    except pipeline.PermanentFrameError as exc:
        frame = Frame.objects.get(pk=frame_id)
        fail_frame(frame, str(exc))
        return {"frame": frame_id, "state": FrameState.FAILED, "reason": str(exc)}
    except Exception as exc:
        logger.exception("frame processing failed", extra={"frame_id": frame_id, "task_id": self.request.id})
        frame = Frame.objects.filter(pk=frame_id, state=FrameState.PROCESSING).first()
        if frame is not None:
            fail_frame(frame, f"error: {type(exc).__name__}: {str(exc)[:200]}")
        return {"frame": frame_id, "state": FrameState.FAILED, "reason": type(exc).__name__}
    if report is None:
        return None
    return {"frame": frame_id, "state": report.state, "faces": len(report.faces), "marked": report.marked}
