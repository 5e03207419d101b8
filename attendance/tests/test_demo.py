"""seed_demo's attendance: four weeks of history and a demo day, whatever the time of day."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from attendance.choices import SessionStatus
from attendance.models import AttendanceRecord, ClassSession
from campus.models import Student

pytestmark = pytest.mark.django_db


def seed():
    out = io.StringIO()
    call_command("seed_demo", "--students", "30", stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.parametrize("hour", [3, 10, 22])
def test_the_demo_day_has_past_current_and_upcoming_classes_at_any_hour(time_machine, hour):
    now = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(hour, 20)))
    time_machine.move_to(now, tick=False)
    out = seed()
    assert "past sessions closed" in out
    mine = ClassSession.objects.filter(section__teachers__username="demo.staff")
    assert mine.filter(scheduled_end__lte=now, status=SessionStatus.CLOSED).exists()
    assert mine.filter(scheduled_start__lte=now, scheduled_end__gt=now, status=SessionStatus.OPEN).exists()
    assert mine.filter(scheduled_start__gt=now, status=SessionStatus.SCHEDULED).exists()
    # Nothing in the past is left for the beat to close as "everyone absent".
    assert not ClassSession.objects.filter(scheduled_end__lte=now, status=SessionStatus.SCHEDULED).exists()


def test_four_weeks_of_history_with_a_believable_rate(time_machine):
    time_machine.move_to(timezone.make_aware(dt.datetime(2026, 11, 18, 14, 0)), tick=False)
    seed()
    records = AttendanceRecord.objects.all()
    days = set(records.values_list("session__date", flat=True))
    assert len(days) >= 15  # four weeks of weekdays, more or less
    attended = records.filter(status__in=["present", "late"]).count()
    counted = records.filter(status__in=["present", "late", "absent"]).count()
    assert 0.6 < attended / counted < 0.95
    assert records.filter(needs_review=True).count() == 1


def test_demo_student_is_an_active_consenting_student(time_machine):
    seed()
    student = Student.objects.get(user__username="demo.student")
    assert student.status == "active" and student.has_face_consent


def test_running_it_again_adds_no_attendance():
    seed()
    counts = (ClassSession.objects.count(), AttendanceRecord.objects.count())
    seed()
    assert (ClassSession.objects.count(), AttendanceRecord.objects.count()) == counts


def test_history_days_zero_keeps_only_today(time_machine):
    now = timezone.make_aware(dt.datetime(2026, 11, 18, 14, 0))
    time_machine.move_to(now, tick=False)
    out = io.StringIO()
    call_command("seed_demo", "--students", "20", "--history-days", "0", stdout=out, stderr=io.StringIO())
    dates = set(ClassSession.objects.values_list("date", flat=True))
    assert dates <= {now.date(), (now + dt.timedelta(hours=3)).date()}
    assert not ClassSession.objects.filter(scheduled_end__lte=now, status=SessionStatus.SCHEDULED).exists()
