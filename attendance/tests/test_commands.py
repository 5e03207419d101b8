import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command

from attendance.models import AttendanceRecord, ClassSession
from attendance.tests.conftest import at
from attendance.tests.factories import TimetableSlotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def monday_slot(section, room, students):
    return TimetableSlotFactory(section=section, room=room, weekday=0, start_time=dt.time(9), end_time=dt.time(10))


def test_catch_up_command_plans_and_closes(monday_slot, students):
    out = io.StringIO()
    with time_machine.travel(at(11), tick=False):
        call_command("attendance_catch_up", stdout=out)
    assert "planned 1 session(s)" in out.getvalue()
    assert "closed 1 (absent 3, unverified 0)" in out.getvalue()
    assert AttendanceRecord.objects.count() == 3


def test_catch_up_dry_run_writes_nothing(monday_slot, students):
    out = io.StringIO()
    with time_machine.travel(at(11), tick=False):
        call_command("attendance_catch_up", "--dry-run", stdout=out)
    assert out.getvalue().startswith("dry run: would have planned 1 session(s)")
    assert not ClassSession.objects.exists()
    assert not AttendanceRecord.objects.exists()
