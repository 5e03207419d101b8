"""The dashboard summary: today's sessions and counts, status sources, open complaints.

Cached briefly; attendance services drop the cache on commit whenever
attendance changes. The status of cameras and devices comes from the status
sources the composition provides (`config.status.sources`), so this module
never imports those apps.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from campus.models import sees_whole_campus
from config import status
from config.renderers import FastJSONRenderer

from .models import AttendanceRecord, ClassSession
from .selectors import open_complaints_count, records_held_for_review_count, sessions_on, status_counts

logger = logging.getLogger("campus.attendance")

CACHE_KEY = "attendance:dashboard:summary"


def status_sources() -> dict[str, dict]:
    """Each status source's counts by name (e.g. `{"online": 3, "total": 4}`); a broken one shows its error."""
    report: dict[str, dict] = {}
    for name, fn in sorted(status.sources.entries().items()):
        try:
            report[name] = dict(fn())
        except Exception as exc:  # one broken source must not take the dashboard down
            logger.exception("dashboard status source failed", extra={"source": name})
            report[name] = {"error": type(exc).__name__}
    return report


def _cache_key(day: dt.date) -> str:
    return f"{CACHE_KEY}:{day.isoformat()}"


def invalidate_summary() -> None:
    """Drops today's cached summary (called on commit by every attendance change)."""
    try:
        cache.delete(_cache_key(timezone.localdate()))
    except Exception:  # Redis down: the entry expires on its own shortly
        logger.warning("could not drop the dashboard cache", exc_info=True)


def build_summary(day: dt.date, user=None) -> dict[str, Any]:
    """The day's summary over what `user` may see (everything when no user is given)."""
    records = AttendanceRecord.objects.all() if user is None else AttendanceRecord.objects.visible_to(user)
    sessions = sessions_on(day)
    if user is not None:
        sessions = sessions.filter(pk__in=ClassSession.objects.visible_to(user).values("pk"))
    sessions = list(sessions)
    counts = status_counts(records=records, record_filter={"session__date": day})
    by_status: dict[str, int] = {}
    for session in sessions:
        by_status[session.status] = by_status.get(session.status, 0) + 1
    return {
        "date": day.isoformat(),
        "generated_at": timezone.now().isoformat(),
        "sessions": {"total": len(sessions), **by_status},
        "today": [
            {
                "id": session.pk,
                "section": str(session.section),
                "room": session.room.code,
                "scheduled_start": session.scheduled_start.isoformat(),
                "scheduled_end": session.scheduled_end.isoformat(),
                "status": session.status,
                "present": session.n_present,
                "late": session.n_late,
                "absent": session.n_absent,
            }
            for session in sessions
        ],
        "counts": counts,
        "rate": counts["rate"],
        "held_for_review": records_held_for_review_count(day, records),
        "status_sources": status_sources(),
        "open_complaints": open_complaints_count(),
    }


def summary_json(*, day: dt.date | None = None, user=None) -> bytes:
    """Today's summary over what `user` sees, as the API's JSON. The campus-wide one is cached
    already encoded: serving it is one cache read, with no unpickling and no encoding (they cost
    more than the rest of the request). A teacher's own (a few sessions) is built each time."""
    day = day or timezone.localdate()
    if user is not None and not sees_whole_campus(user):
        return _encoded(build_summary(day, user))
    key = _cache_key(day)
    try:
        cached = cache.get(key)
    except Exception:
        logger.warning("dashboard cache unavailable", exc_info=True)
        cached = None
    if isinstance(cached, bytes):  # anything else is a miss (an entry of an older release held a dict)
        return cached
    encoded = _encoded(build_summary(day))
    try:
        cache.set(key, encoded, settings.ATTENDANCE_DASHBOARD_CACHE_SECONDS)
    except Exception:
        logger.warning("could not cache the dashboard summary", exc_info=True)
    return encoded


def summary(*, day: dt.date | None = None, user=None) -> dict[str, Any]:
    """`summary_json` read back, for the admin's dashboard page: the same cache entry serves both."""
    return orjson.loads(summary_json(day=day, user=user))


def _encoded(data: dict[str, Any]) -> bytes:
    return FastJSONRenderer().render(data)
