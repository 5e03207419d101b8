"""Beat tasks: thin wrappers over the services and selectors, idempotent, safe to run late or twice
(so the base task's retries of a database blip, config.celery.CampusTask, are safe)."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.utils import timezone

from . import selectors, services

logger = logging.getLogger("campus.attendance")


@shared_task(name="attendance.tasks.open_due_sessions", bind=True, acks_late=True)
def open_due_sessions(self) -> dict:
    """Plans sessions from the timetable (today and missed days) and opens the ones now due."""
    result = services.open_due_sessions(now=timezone.now()).as_dict()
    logger.info("open_due_sessions", extra={"task_id": self.request.id, **result})
    return result


@shared_task(name="attendance.tasks.close_finished_sessions", bind=True, acks_late=True)
def close_finished_sessions(self) -> dict:
    """Closes every session that has ended, marking absentees (or unverified) exactly once."""
    result = services.close_finished_sessions(now=timezone.now()).as_dict()
    logger.info("close_finished_sessions", extra={"task_id": self.request.id, **result})
    return result


@shared_task(name="attendance.tasks.daily_summary", bind=True, acks_late=True)
def daily_summary(self, day: str | None = None) -> dict:
    """Logs one day's attendance (yesterday by default): counts, rate, sessions, students below the threshold."""
    target = dt.date.fromisoformat(day) if day else timezone.localdate() - dt.timedelta(days=1)
    result = selectors.day_summary(target)
    logger.info("daily_summary", extra={"task_id": self.request.id, **result})
    return result
