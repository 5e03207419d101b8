"""The beat's work: plan the day's sessions from the timetable, open the due ones, close the finished ones."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from campus.selectors import slots_on

from .. import dashboard
from ..choices import SessionStatus
from ..models import ClassSession, PlannerState
from ..policy import EffectivePolicy, policy_for_course
from .sessions import close_session

PLANNER_NAME = "sessions"


@dataclass
class BeatResult:
    planned: int = 0
    opened: int = 0
    closed: int = 0
    absent: int = 0
    unverified: int = 0
    days: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _aware(day: dt.date, time: dt.time) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, time))


def plan_sessions(*, day: dt.date) -> int:
    """Creates the day's sessions from the timetable (slots valid that day, within the term). Idempotent."""
    slots = slots_on(day).filter(section__term__start_date__lte=day, section__term__end_date__gte=day)
    existing = set(ClassSession.objects.filter(date=day, slot__isnull=False).values_list("slot_id", flat=True))
    rows = [
        ClassSession(
            slot=slot,
            section_id=slot.section_id,
            room_id=slot.room_id,
            date=day,
            scheduled_start=_aware(day, slot.start_time),
            scheduled_end=_aware(day, slot.end_time),
        )
        for slot in slots
        if slot.pk not in existing
    ]
    ClassSession.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _days_to_plan(now: dt.datetime) -> list[dt.date]:
    """Today, and every day since the planner last ran (at most ATTENDANCE_CATCH_UP_DAYS back)."""
    today = timezone.localdate(now)
    state = PlannerState.objects.filter(name=PLANNER_NAME).first()
    earliest = today - dt.timedelta(days=settings.ATTENDANCE_CATCH_UP_DAYS)
    start = today if state is None else max(min(state.last_planned_date, today), earliest)
    return [start + dt.timedelta(days=n) for n in range((today - start).days + 1)]


def open_due_sessions(*, now: dt.datetime | None = None) -> BeatResult:
    """Plans today's (and missed days') sessions from the timetable and opens those whose window began."""
    now = now or timezone.now()
    result = BeatResult()
    days = _days_to_plan(now)
    for day in days:
        result.planned += plan_sessions(day=day)
    result.days = [day.isoformat() for day in days]
    PlannerState.objects.update_or_create(name=PLANNER_NAME, defaults={"last_planned_date": days[-1]})

    # Candidates: not over yet, and starting within a day (no early window is longer).
    due = ClassSession.objects.filter(
        status=SessionStatus.SCHEDULED, scheduled_end__gt=now, scheduled_start__lte=now + dt.timedelta(days=1)
    ).select_related("section")
    policies: dict[int, EffectivePolicy] = {}
    for session in due:
        course_id = session.section.course_id
        if course_id not in policies:
            policies[course_id] = policy_for_course(course_id)
        if policies[course_id].window_opens(session) > now:
            continue
        # A conditional update claims the session, so two beats never both open it.
        claimed = ClassSession.objects.filter(pk=session.pk, status=SessionStatus.SCHEDULED).update(
            status=SessionStatus.OPEN, opened_at=now, updated_at=now
        )
        result.opened += claimed
    if result.opened or result.planned:
        dashboard.invalidate_summary()
    return result


def close_finished_sessions(*, now: dt.datetime | None = None) -> BeatResult:
    """Closes every scheduled or open session that has ended, however long ago (catch-up after downtime)."""
    now = now or timezone.now()
    result = BeatResult()
    ended = (
        ClassSession.objects.filter(
            Q(status=SessionStatus.OPEN) | Q(status=SessionStatus.SCHEDULED), scheduled_end__lte=now
        )
        .order_by("scheduled_end", "id")
        .values_list("pk", flat=True)
    )
    for pk in list(ended):
        outcome = close_session(session=pk, now=now)
        if outcome.closed:
            result.closed += 1
            result.absent += outcome.absent
            result.unverified += outcome.unverified
    return result
