"""Beat tasks: thin wrappers over the services, idempotent, safe to run late or twice."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from . import selectors, services

logger = logging.getLogger("campus.attendance")


# A database blip is retried a few times with backoff; the work is idempotent, so a retry is safe.
RETRY = {"autoretry_for": (OperationalError,), "max_retries": 3, "retry_backoff": True}


@shared_task(name="attendance.tasks.open_due_sessions", bind=True, acks_late=True, **RETRY)
def open_due_sessions(self) -> dict:
    """Plans sessions from the timetable (today and missed days) and opens the ones now due."""
    result = services.open_due_sessions(now=timezone.now()).as_dict()
    logger.info("open_due_sessions", extra={"task_id": self.request.id, **result})
    return result


@shared_task(name="attendance.tasks.close_finished_sessions", bind=True, acks_late=True, **RETRY)
def close_finished_sessions(self) -> dict:
    """Closes every session that has ended, marking absentees (or unverified) exactly once."""
    result = services.close_finished_sessions(now=timezone.now()).as_dict()
    logger.info("close_finished_sessions", extra={"task_id": self.request.id, **result})
    return result


@shared_task(name="attendance.tasks.daily_summary", bind=True, acks_late=True)
def daily_summary(self, day: str | None = None) -> dict:
    """Logs one day's attendance (yesterday by default): counts, rate, sessions, students below the threshold."""
    from django.conf import settings

    from .models import AttendanceRecord

    target = dt.date.fromisoformat(day) if day else timezone.localdate() - dt.timedelta(days=1)
    records = AttendanceRecord.objects.all()
    counts = selectors.status_counts(records=selectors.records_between(records, target, target))
    trend = selectors.trends(
        records=records, date_from=target, date_to=target, threshold=settings.ATTENDANCE_LOW_RATE_THRESHOLD
    )
    result = {
        "date": target.isoformat(),
        "sessions": selectors.sessions_on(target).count(),
        **counts,
        "students_below": len(trend["students_below"]),
    }
    logger.info("daily_summary", extra={"task_id": self.request.id, **result})
    return result
