"""Attendance factories; campus ones come from campus.tests.factories."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from attendance.choices import RecordSource, RecordStatus, SessionStatus
from attendance.models import AttendanceRecord, ClassSession
from campus.models import Student
from campus.tests.factories import (  # noqa: F401  (re-exported for attendance tests)
    CourseFactory,
    EnrolmentFactory,
    RoomFactory,
    SectionFactory,
    StudentFactory,
    TimetableSlotFactory,
)


def _start(o) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(o.date, dt.time(9, 0)))


class ClassSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClassSession

    section = factory.SubFactory(SectionFactory)
    room = factory.SubFactory(RoomFactory)
    date = factory.LazyFunction(timezone.localdate)
    scheduled_start = factory.LazyAttribute(_start)
    scheduled_end = factory.LazyAttribute(lambda o: o.scheduled_start + dt.timedelta(hours=1))
    status = SessionStatus.OPEN


class AttendanceRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AttendanceRecord

    session = factory.SubFactory(ClassSessionFactory)
    student = factory.SubFactory(StudentFactory)
    status = RecordStatus.PRESENT
    source = RecordSource.FACE
    first_seen_at = factory.LazyAttribute(lambda o: o.session.scheduled_start)
    last_seen_at = factory.LazyAttribute(lambda o: o.session.scheduled_start)
    sightings_count = 1


def student_user(student: Student | None = None, **kwargs):
    """A signed-in student: a user with the student role linked to a campus Student."""
    user = UserFactory(role="student", **kwargs)
    student = student or StudentFactory()
    student.user = user
    student.save(update_fields=["user"])
    return user
