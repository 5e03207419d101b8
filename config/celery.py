"""The Celery app. Queues by kind of work, each served by its own worker (see the Procfile):
`frames` (frame processing only), `polling` (camera polling and camera housekeeping),
`maintenance` (backups, purges, retention, reports) and `default` (everything else),
so a backup or a slow camera never takes frame capacity.

Every task gets `CampusTask` as its base: JSON only, late acknowledgement,
retries with exponential backoff on transient errors, a cap on redeliveries
after a lost worker, a bound on countdown/ETA, and `delay_on_commit`.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

from celery import Celery
from celery.contrib.django.task import DjangoTask
from celery.exceptions import Reject
from django.conf import settings
from kombu import Queue

from config.deliveries import count_delivery, max_deliveries
from config.outages import TRANSIENT_ERRORS

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger("campus.tasks")


class CampusTask(DjangoTask):
    """Base class of every task in the project (see the module docstring)."""

    autoretry_for = TRANSIENT_ERRORS  # the database, Redis or the broker was briefly away
    retry_backoff = True  # 1 s, 2 s, 4 s ... with jitter
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = 5
    reject_on_worker_lost = True

    def before_start(self, task_id, args, kwargs):
        # Only late-acked tasks come back after a lost worker; eager calls never do.
        if self.request.is_eager or not self.acks_late:
            return
        deliveries = count_delivery(task_id=task_id, retries=self.request.retries or 0)
        if deliveries > max_deliveries():
            logger.error(
                "task dropped: delivered too many times (its worker kept dying)",
                extra={"task_id": task_id, "task": self.name, "deliveries": deliveries},
            )
            raise Reject(f"delivered {deliveries} times; the cap is {max_deliveries()}", requeue=False)

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None,
                    shadow=None, **options):
        _refuse_far_eta(options.get("countdown"), options.get("eta"))
        return super().apply_async(args, kwargs, task_id, producer, link, link_error, shadow, **options)


def _refuse_far_eta(countdown: float | None, eta: datetime | str | None) -> None:
    """A countdown beyond CELERY_MAX_ETA_SECONDS could outlive Redis' visibility timeout
    and be delivered twice, so it is refused outright."""
    limit = settings.CELERY_MAX_ETA_SECONDS
    if countdown is not None and countdown > limit:
        raise ValueError(f"countdown {countdown}s exceeds CELERY_MAX_ETA_SECONDS ({limit}s)")
    if isinstance(eta, str):
        eta = datetime.fromisoformat(eta)
    if isinstance(eta, datetime):
        aware = eta if eta.tzinfo else eta.replace(tzinfo=UTC)
        if aware - datetime.now(UTC) > timedelta(seconds=limit):
            raise ValueError(f"eta {eta.isoformat()} is further away than CELERY_MAX_ETA_SECONDS ({limit}s)")


app = Celery("campus", task_cls="config.celery:CampusTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    timezone="UTC",
    enable_utc=True,
    task_default_queue="default",
    task_queues=(Queue("default"), Queue("frames"), Queue("polling"), Queue("maintenance")),
    task_routes={
        "cameras.tasks.process_frame": {"queue": "frames"},
        "cameras.tasks.poll_cameras": {"queue": "polling"},
        "cameras.tasks.capture_camera": {"queue": "polling"},
        "config.tasks.*": {"queue": "maintenance"},
        "accounts.tasks.flush_expired_tokens": {"queue": "maintenance"},
        "attendance.tasks.daily_summary": {"queue": "maintenance"},
    },
    # A task is acknowledged only after it finishes, so a worker that dies
    # mid-task leaves it on the queue for another worker.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    # One message at a time per worker process: a long frame batch never
    # holds other messages hostage in a busy worker's prefetch buffer.
    worker_prefetch_multiplier=1,
    # When the broker connection drops, the unacked messages go back to the
    # queue; cancel their running copies rather than let them run twice.
    worker_cancel_long_running_tasks_on_connection_loss=True,
    broker_connection_retry_on_startup=True,
    beat_scheduler="config.beat:LockedDatabaseScheduler",
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks()

from . import worker_metrics  # noqa: E402, F401  (connects the worker metrics signals)
