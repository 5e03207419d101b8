"""The Celery app. Queues: `frames` (camera frames), `default`, `maintenance`."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("campus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    timezone="UTC",
    enable_utc=True,
    task_default_queue="default",
    task_queues=(Queue("default"), Queue("frames"), Queue("maintenance")),
    task_routes={
        "cameras.tasks.*": {"queue": "frames"},
        "config.tasks.*": {"queue": "maintenance"},
    },
    # A task is acknowledged only after it finishes, so a worker that dies
    # mid-task leaves it on the queue for another worker.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    beat_scheduler="django_celery_beat.schedulers:DatabaseScheduler",
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks()
