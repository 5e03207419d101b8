"""Read queries reused by the API, the admin, reports and other apps."""

from __future__ import annotations

import datetime

from django.db.models import Prefetch, QuerySet

from .choices import StudentStatus
from .models import Enrolment, Section, Student, TimetableSlot


def students_enrolled_on(section: Section | int, day: datetime.date) -> QuerySet[Student]:
    """Active students enrolled in `section` on `day` (enrolled_on <= day < left_on)."""
    section_id = section.pk if isinstance(section, Section) else section
    enrolled = Enrolment.objects.current_on(day).filter(section_id=section_id).values("student_id")
    return Student.objects.filter(pk__in=enrolled, status=StudentStatus.ACTIVE).order_by(
        "last_name", "first_name", "student_number"
    )


def sections_taught_by(user) -> QuerySet[Section]:
    """Sections where `user` is one of the teachers."""
    if not (user and user.is_authenticated and getattr(user, "pk", None)):
        return Section.objects.none()
    return Section.objects.filter(teachers=user).select_related("course", "term")


def slots_on(day: datetime.date, *, room=None, section=None) -> QuerySet[TimetableSlot]:
    """Timetable slots that meet on `day`, optionally for one room or section."""
    slots = TimetableSlot.objects.valid_on(day).select_related("section__course", "section__term", "room")
    if room is not None:
        slots = slots.filter(room=room)
    if section is not None:
        slots = slots.filter(section=section)
    return slots.order_by("start_time", "room__code")


def section_list() -> QuerySet[Section]:
    return Section.objects.select_related("course__department", "term").prefetch_related(Prefetch("teachers"))
