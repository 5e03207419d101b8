"""Read queries reused by the API, the admin, reports and other apps."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from django.db.models import Count, Prefetch, QuerySet

from .choices import StudentStatus
from .models import Complaint, ComplaintComment, Course, Enrolment, Room, Section, Student, Teacher, TimetableSlot

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


def students_enrolled_on(section: Section | int, day: datetime.date) -> QuerySet[Student]:
    """Active students enrolled in `section` on `day` (enrolled_on <= day < left_on)."""
    section_id = section.pk if isinstance(section, Section) else section
    enrolled = Enrolment.objects.current_on(day).filter(section_id=section_id).values("student_id")
    return Student.objects.filter(pk__in=enrolled, status=StudentStatus.ACTIVE).order_by(
        "last_name", "first_name", "student_number"
    )


def sections_taught_by(user: User | AnonymousUser | None) -> QuerySet[Section]:
    """Sections where `user` is one of the teachers."""
    if not (user and user.is_authenticated and getattr(user, "pk", None)):
        return Section.objects.none()
    return Section.objects.filter(teachers=user).select_related("course", "term")


def slots_on(
    day: datetime.date, *, room: Room | int | None = None, section: Section | int | None = None
) -> QuerySet[TimetableSlot]:
    """Timetable slots that meet on `day`, optionally for one room or section."""
    slots = TimetableSlot.objects.valid_on(day).select_related("section__course", "section__term", "room")
    if room is not None:
        slots = slots.filter(room=room)
    if section is not None:
        slots = slots.filter(section=section)
    return slots.order_by("start_time", "room__code")


def section_list() -> QuerySet[Section]:
    return Section.objects.select_related("course__department", "term").prefetch_related(Prefetch("teachers"))


# --- What the API lists, with what its serializers show -----------------------


def room_list() -> QuerySet[Room]:
    return Room.objects.select_related("building")


def course_list() -> QuerySet[Course]:
    return Course.objects.select_related("department")


def enrolment_list() -> QuerySet[Enrolment]:
    return Enrolment.objects.select_related("student", "section__course", "section__term")


def teacher_list() -> QuerySet[Teacher]:
    return Teacher.objects.select_related("user", "department")


def timetable_slot_list() -> QuerySet[TimetableSlot]:
    return TimetableSlot.objects.select_related("room", "section__course")


def manages_section(user: User | AnonymousUser, section: Section) -> bool:
    """Whether `user` is one of the section's teachers (or manages it otherwise)."""
    return Section.objects.managed_by(user).filter(pk=section.pk).exists()


def students_visible_to(user: User | AnonymousUser) -> QuerySet[Student]:
    return Student.objects.visible_to(user)


def sections_visible_to(user: User | AnonymousUser) -> QuerySet[Section]:
    return Section.objects.visible_to(user).select_related("course")


def complaints_visible_to(user: User | AnonymousUser) -> QuerySet[Complaint]:
    """The complaints `user` may see, with author, assignee, room and their comment count."""
    return (
        Complaint.objects.visible_to(user)
        .select_related("author", "assignee", "room")
        .annotate(comment_count=Count("comments"))
    )


def complaint_is_visible_to(user: User | AnonymousUser, complaint: Complaint) -> bool:
    return Complaint.objects.visible_to(user).filter(pk=complaint.pk).exists()


def complaint_comments_visible_to(user: User | AnonymousUser) -> QuerySet[ComplaintComment]:
    return ComplaintComment.objects.visible_to(user).select_related("author")


def comments_on(complaint: Complaint) -> QuerySet[ComplaintComment]:
    """A complaint's comments, oldest first."""
    return complaint.comments.select_related("author").order_by("created_at", "id")
