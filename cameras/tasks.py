"""The frame worker's task (queue `frames`; see config/celery.py). Its purgers run in the nightly
`config.tasks.purge_expired`.

`process_frame` is sent by `cameras.intake` and hands the frame to `cameras.pipeline`
(claim, decode, detect, ...). The pulled cameras' tasks (`poll_cameras`,
`capture_camera`) live with the capture code in `cameras.capture`, above intake,
so a frame's path imports one way: intake -> tasks -> pipeline.
"""

from __future__ import annotations

from celery import shared_task

from . import pipeline


# Retries, their backoff and their cap are the base task's (config.celery.CampusTask).
@shared_task(bind=True, acks_late=True, ignore_result=True)
def process_frame(self, frame_id: int) -> dict | None:
    """Claim and process one frame (`pipeline.run_frame`). Idempotent: a frame already claimed or
    finished is left alone; a transient error is retried with backoff."""
    return pipeline.run_frame(frame_id, task_id=self.request.id)
