import datetime as dt

import pytest
import time_machine

from attendance import tasks
from attendance.choices import RecordStatus, SessionStatus
from attendance.models import AttendanceRecord, ClassSession, PlannerState
from attendance.tests.conftest import DAY, at
from attendance.tests.factories import TimetableSlotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def monday_slot(section, room, students):
    return TimetableSlotFactory(section=section, room=room, weekday=0, start_time=dt.time(9), end_time=dt.time(10))


def run(task):
    return task.delay().get()


def test_session_is_planned_but_not_opened_before_its_window(monday_slot):
    with time_machine.travel(at(8, 40), tick=False):
        result = run(tasks.open_due_sessions)
    assert (result["planned"], result["opened"]) == (1, 0)
    session = ClassSession.objects.get()
    assert (session.slot, session.date, session.status) == (monday_slot, DAY, SessionStatus.SCHEDULED)
    assert (session.scheduled_start, session.scheduled_end) == (at(9), at(10))


def test_session_opens_when_its_early_arrival_window_begins(monday_slot):
    with time_machine.travel(at(8, 45), tick=False):
        result = run(tasks.open_due_sessions)
    assert result["opened"] == 1
    session = ClassSession.objects.get()
    assert (session.status, session.opened_at) == (SessionStatus.OPEN, at(8, 45))


def test_opening_twice_makes_one_session_and_opens_it_once(monday_slot):
    with time_machine.travel(at(8, 50), tick=False):
        first = run(tasks.open_due_sessions)
        second = run(tasks.open_due_sessions)
    assert (first["planned"], first["opened"]) == (1, 1)
    assert (second["planned"], second["opened"]) == (0, 0)
    assert ClassSession.objects.count() == 1


def test_closing_beat_marks_absentees_exactly_once(monday_slot, students):
    with time_machine.travel(at(8, 50), tick=False):
        run(tasks.open_due_sessions)
    with time_machine.travel(at(10, 1), tick=False):
        first = run(tasks.close_finished_sessions)
        second = run(tasks.close_finished_sessions)
    assert (first["closed"], first["absent"]) == (1, 3)
    assert (second["closed"], second["absent"]) == (0, 0)
    assert AttendanceRecord.objects.filter(status=RecordStatus.ABSENT).count() == 3


def test_open_session_is_not_closed_before_its_end(monday_slot):
    with time_machine.travel(at(9, 59), tick=False):
        run(tasks.open_due_sessions)
        assert run(tasks.close_finished_sessions)["closed"] == 0
    assert ClassSession.objects.get().status == SessionStatus.OPEN


def test_missed_beats_are_caught_up_after_downtime(section, room, students):
    for weekday in range(4):  # Monday to Thursday, 09:00-10:00
        TimetableSlotFactory(section=section, room=room, weekday=weekday, start_time=dt.time(9), end_time=dt.time(10))
    with time_machine.travel(at(8, 50), tick=False):
        run(tasks.open_due_sessions)
    assert PlannerState.objects.get().last_planned_date == DAY

    # Down from Monday 08:50 until Thursday noon: nothing ran in between.
    with time_machine.travel(at(12, day=DAY + dt.timedelta(days=3)), tick=False):
        opened = run(tasks.open_due_sessions)
        closed = run(tasks.close_finished_sessions)
    assert opened["planned"] == 3
    assert opened["days"] == [(DAY + dt.timedelta(days=n)).isoformat() for n in range(4)]
    assert sorted(ClassSession.objects.values_list("date", flat=True)) == [DAY + dt.timedelta(days=n) for n in range(4)]
    assert closed["closed"] == 4
    assert set(ClassSession.objects.values_list("status", flat=True)) == {SessionStatus.CLOSED}
    # Every enrolled student got exactly one record per session.
    assert AttendanceRecord.objects.count() == 4 * len(students)
    assert PlannerState.objects.get().last_planned_date == DAY + dt.timedelta(days=3)


def test_catch_up_is_bounded(section, room, students, settings):
    settings.ATTENDANCE_CATCH_UP_DAYS = 2
    for weekday in range(7):
        TimetableSlotFactory(section=section, room=room, weekday=weekday, start_time=dt.time(9), end_time=dt.time(10))
    PlannerState.objects.create(name="sessions", last_planned_date=DAY - dt.timedelta(days=30))
    with time_machine.travel(at(8), tick=False):
        result = run(tasks.open_due_sessions)
    assert result["days"] == [(DAY - dt.timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert ClassSession.objects.count() == 3


def test_no_session_outside_the_term_or_slot_dates(section, room, students):
    TimetableSlotFactory(section=section, room=room, weekday=0, valid_from=DAY + dt.timedelta(days=1), valid_until=None)
    with time_machine.travel(at(8, 50), tick=False):
        assert run(tasks.open_due_sessions)["planned"] == 0
    assert not ClassSession.objects.exists()


def test_daily_summary_counts_yesterdays_records(session, students):
    from attendance import services

    services.close_session(session=session, now=at(10))
    with time_machine.travel(at(7, day=DAY + dt.timedelta(days=1)), tick=False):
        result = run(tasks.daily_summary)
    assert result["date"] == DAY.isoformat()
    assert (result["absent"], result["total"], result["sessions"]) == (3, 3, 1)
    assert result["rate"] == 0.0
