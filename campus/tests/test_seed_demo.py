import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from campus.models import Enrolment, Section, Student, TimetableSlot
from campus.services import clashes_of

pytestmark = pytest.mark.django_db


def seed(*args):
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_seed_demo_builds_a_campus_and_is_harmless_twice():
    first = seed("--students", "30")
    assert first.count("password: ") == 4
    assert Student.objects.count() == 30
    assert Enrolment.objects.count() == 30 * 4
    assert set(User.objects.filter(username__startswith="demo.").values_list("role", flat=True)) == {
        "admin",
        "staff",
        "student",
        "guest",
    }
    assert Student.objects.filter(user__username="demo.student").exists()
    assert Section.objects.filter(teachers__username="demo.staff").exists()
    assert all(section.slots.count() == 2 for section in Section.objects.all())
    for slot in TimetableSlot.objects.all():
        clashes = clashes_of(slot)
        assert not clashes.exists()
    counts = (Student.objects.count(), Enrolment.objects.count(), TimetableSlot.objects.count(), User.objects.count())

    second = seed("--students", "30")
    assert "password: " not in second
    assert "0 new timetable slots, 0 new students" in second
    assert (
        Student.objects.count(),
        Enrolment.objects.count(),
        TimetableSlot.objects.count(),
        User.objects.count(),
    ) == counts


def test_more_students_later_keeps_the_first_ones_enrolments():
    seed("--students", "10")
    before = set(Enrolment.objects.values_list("section_id", "student_id"))
    seed("--students", "25")
    after = set(Enrolment.objects.values_list("section_id", "student_id"))
    assert before <= after
    assert len(after) == 25 * 4


def test_seed_demo_refuses_a_silly_count():
    with pytest.raises(CommandError):
        seed("--students", "0")
