"""The demo campus's attendance (`manage.py seed_demo`): four weeks of history and a demo day.

Whatever the time of day the command runs, the demo teacher has a class that
ended, one running now and one coming up, and every past session is closed
with believable records (no sudden "352 absent" when the beat catches up).
"""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campus.models import Enrolment, Room, Section

from . import dashboard, services
from .choices import RecordSource, RecordStatus, SessionStatus
from .models import AttendanceRecord, ClassSession

HISTORY_DAYS = 28  # the default of seed_demo --history-days
# The demo teacher's own day, in minutes from now: ended, running, upcoming.
DEMO_DAY = [(-150, -60), (-30, 60), (75, 165)]
# Fridays and Mondays a little emptier, so the weekday chart has a shape.
WEEKDAY_EFFECT = {0: -0.05, 4: -0.1}


def _room_free(room_id: int, start: dt.datetime, end: dt.datetime) -> bool:
    return not ClassSession.objects.filter(
        room_id=room_id, scheduled_start__lt=end, scheduled_end__gt=start
    ).exclude(status=SessionStatus.CANCELLED).exists()


def _demo_day(*, teacher, now: dt.datetime) -> int:

    section = Section.objects.filter(teachers=teacher).order_by("pk").first()
    if section is None:
        return 0
    window = (now - dt.timedelta(hours=3), now + dt.timedelta(hours=3))
    if ClassSession.objects.filter(section=section, slot__isnull=True, scheduled_start__range=window).exists():
        return 0  # a run earlier today made them
    rooms = list(Room.objects.order_by("code").values_list("pk", flat=True))
    made = 0
    for start_min, end_min in DEMO_DAY:
        start, end = now + dt.timedelta(minutes=start_min), now + dt.timedelta(minutes=end_min)
        room_id = next((pk for pk in rooms if _room_free(pk, start, end)), None)
        if room_id is None:
            continue
        ClassSession.objects.create(
            section=section, room_id=room_id, date=timezone.localdate(start), scheduled_start=start,
            scheduled_end=end,
        )
        made += 1
    return made


def _status_for(rng: random.Random, propensity: float) -> tuple[str, int | None]:
    """A status and, when seen, minutes after the start."""
    roll = rng.random()
    if roll < 0.02:
        return RecordStatus.EXCUSED, None
    if roll < propensity:
        late = rng.random() < 0.12
        return (RecordStatus.LATE, rng.randint(12, 30)) if late else (RecordStatus.PRESENT, rng.randint(-5, 8))
    return RecordStatus.ABSENT, None


def _records_for(session: ClassSession, *, seed: int, until: dt.datetime) -> list[AttendanceRecord]:

    students = Enrolment.objects.filter(section_id=session.section_id).current_on(session.date)
    rows = []
    for student_id in students.values_list("student_id", flat=True):
        propensity = 0.6 + 0.38 * random.Random(f"{seed}:student:{student_id}").random()
        propensity += WEEKDAY_EFFECT.get(session.date.weekday(), 0.0)
        rng = random.Random(f"{seed}:{session.pk}:{student_id}")
        status, minutes = _status_for(rng, propensity)
        seen = session.scheduled_start + dt.timedelta(minutes=minutes) if minutes is not None else None
        if seen is not None and seen > until:
            continue  # not seen yet: the class is still running
        if status == RecordStatus.ABSENT and until < session.scheduled_end:
            continue  # nobody is absent before the class ends
        last_seen = None
        if seen is not None:
            last_seen = min(until, session.scheduled_end - dt.timedelta(minutes=rng.randint(0, 10)))
            last_seen = max(seen, last_seen)
        rows.append(AttendanceRecord(
            session=session, student_id=student_id, status=status,
            source=RecordSource.FACE if seen else RecordSource.SYSTEM if status == RecordStatus.ABSENT
            else RecordSource.MANUAL,
            first_seen_at=seen, last_seen_at=last_seen, sightings_count=rng.randint(3, 40) if seen else 0,
            confidence=round(0.55 + 0.3 * rng.random(), 3) if seen else None,
        ))
    return rows


@transaction.atomic
def seed_demo_attendance(
    *, teacher, seed: int, history_days: int = HISTORY_DAYS, now: dt.datetime | None = None, **_signal
) -> str:
    """Receiver of campus' demo_campus_seeded: plans the history and today, then fills what has happened."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    for days_ago in range(history_days, -1, -1):
        services.plan_sessions(day=today - dt.timedelta(days=days_ago))
    demo = _demo_day(teacher=teacher, now=now) if teacher is not None else 0
    untouched = ClassSession.objects.filter(
        status=SessionStatus.SCHEDULED, scheduled_start__lte=now, date__gte=today - dt.timedelta(days=history_days)
    ).select_related("section").order_by("scheduled_start")
    pending: list[AttendanceRecord] = []
    made, finished, running = 0, [], []
    with_records = set(
        AttendanceRecord.objects.filter(session__in=untouched).values_list("session_id", flat=True).distinct()
    )
    for session in untouched.iterator(chunk_size=500):
        if session.pk in with_records:
            continue
        pending.extend(_records_for(session, seed=seed, until=now))
        (finished if session.scheduled_end <= now else running).append(session.pk)
        if len(pending) >= 5000:  # a 10,000-student campus makes ~300,000 records: insert as we go
            AttendanceRecord.objects.bulk_create(pending, batch_size=5000, ignore_conflicts=True)
            made, pending = made + len(pending), []
    AttendanceRecord.objects.bulk_create(pending, batch_size=5000, ignore_conflicts=True)
    made += len(pending)
    ClassSession.objects.filter(pk__in=finished).update(
        status=SessionStatus.CLOSED, opened_at=F("scheduled_start"), closed_at=F("scheduled_end")
    )
    ClassSession.objects.filter(pk__in=running).update(status=SessionStatus.OPEN, opened_at=F("scheduled_start"))
    held = _hold_one_for_review(today)
    transaction.on_commit(dashboard.invalidate_summary)
    return (
        f"attendance: {len(finished)} past sessions closed, {len(running)} running now, {demo} demo-teacher "
        f"sessions around now, {made} records over {history_days} days and today, {held} held for review."
    )


def _hold_one_for_review(today: dt.date) -> int:
    """One of today's sightings contradicts itself, so the Today panel has a record to review."""
    if AttendanceRecord.objects.filter(session__date=today, needs_review=True).exists():
        return 0
    record = AttendanceRecord.objects.filter(session__date=today, status=RecordStatus.PRESENT).order_by("pk").first()
    if record is None:
        return 0
    AttendanceRecord.objects.filter(pk=record.pk).update(needs_review=True, status=RecordStatus.UNVERIFIED)
    return 1
