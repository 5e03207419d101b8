"""The campus: places, courses and sections, people, the weekly timetable and complaints.

Scoping of reads by role lives in one `visible_to(user)` queryset method per
model; viewsets, the admin and reports all go through it.
"""

from __future__ import annotations

from typing import Self, TypeVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.permissions import user_has
from config.fields import acting_user, choice_check, in_order
from config.models import TimeStampedModel

from .choices import ComplaintCategory, ComplaintPriority, ComplaintStatus, StudentStatus, Weekday


def _is_person(user) -> bool:
    # A device principal is authenticated but has no user row.
    return bool(user and user.is_authenticated and getattr(user, "pk", None))


def sees_whole_campus(user) -> bool:
    """The one switch of the visibility rule: campus-wide duties (and admins) see every student
    and every section's attendance; a teacher sees the sections they teach (README: "Who sees what")."""
    return user_has(user, "view_all_students")


def taught_section_ids(user):
    """A subquery of the sections `user` teaches (no join, so no duplicate rows)."""
    return Section.teachers.through.objects.filter(user_id=user.pk).values("section_id")


class CodeAndName(TimeStampedModel):
    """A building or a department: a short unique code and a name, listed by code."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=120)

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Building(CodeAndName):
    pass


class Room(TimeStampedModel):
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="rooms")
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=120, blank=True)
    capacity = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Department(CodeAndName):
    pass


class Course(TimeStampedModel):
    code = models.CharField(max_length=32, unique=True)
    title = models.CharField(max_length=200)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="courses")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class Term(TimeStampedModel):
    name = models.CharField(max_length=64, unique=True)
    start_date = models.DateField()
    end_date = models.DateField()

    class Meta:
        ordering = ["-start_date"]
        constraints = [
            in_order("start_date", "end_date", name="campus_term_dates_ordered"),
        ]

    def __str__(self) -> str:
        return self.name


# A section or a timetable slot.
_Catalogued = TypeVar("_Catalogued", bound=models.Model)


class CatalogueQuerySet(models.QuerySet[_Catalogued]):
    def visible_to(self, user) -> Self:
        """The catalogue and timetable are readable by anyone with view_campus."""
        if not user_has(user, "view_campus"):
            return self.none()
        return self


class SectionQuerySet(CatalogueQuerySet["Section"]):
    def managed_by(self, user) -> SectionQuerySet:
        """Sections `user` may act on: all with manage_campus, else the ones they teach."""
        if user_has(user, "manage_campus"):
            return self
        if not _is_person(user):
            return self.none()
        return self.filter(teachers=user)


class Section(TimeStampedModel):
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="sections")
    term = models.ForeignKey(Term, on_delete=models.PROTECT, related_name="sections")
    code = models.CharField(max_length=16)
    teachers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="taught_sections", blank=True)

    objects = SectionQuerySet.as_manager()

    class Meta:
        ordering = ["course__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["course", "term", "code"], name="campus_section_unique_per_term"),
        ]

    @property
    def full_code(self) -> str:
        """The section as people write it: its course's code, then its own ("CS101-A")."""
        return f"{self.course.code}-{self.code}"

    def __str__(self) -> str:
        return f"{self.full_code} ({self.term.name})"


class StudentQuerySet(models.QuerySet["Student"]):
    def visible_to(self, user) -> StudentQuerySet:
        """view_all_students: all; view_students (a teacher): students ever enrolled in a
        section they teach, and themselves; anyone else: only their own record."""
        if sees_whole_campus(user):
            return self
        if not _is_person(user):
            return self.none()
        if user_has(user, "view_students"):
            taught = Enrolment.objects.filter(section_id__in=taught_section_ids(user)).values("student_id")
            return self.filter(Q(pk__in=taught) | Q(user=user))
        return self.filter(user=user)

    def active(self) -> StudentQuerySet:
        return self.filter(status=StudentStatus.ACTIVE)


class Student(TimeStampedModel):
    student_number = models.CharField(max_length=32, unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="student_profile",
    )
    status = models.CharField(max_length=16, choices=StudentStatus.choices, default=StudentStatus.ACTIVE, db_index=True)
    face_consent_at = models.DateTimeField(null=True, blank=True)
    face_consent_recorded_by = acting_user("face_consents_recorded")

    objects = StudentQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "student_number"]
        constraints = [
            choice_check("status", StudentStatus, name="campus_student_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.student_number} {self.full_name}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def has_face_consent(self) -> bool:
        return self.face_consent_at is not None and self.status == StudentStatus.ACTIVE


class EnrolmentQuerySet(models.QuerySet["Enrolment"]):
    def visible_to(self, user) -> EnrolmentQuerySet:
        """The same rule as students: all, the sections one teaches, or one's own."""
        if sees_whole_campus(user):
            return self
        if not _is_person(user):
            return self.none()
        if user_has(user, "view_students"):
            return self.filter(Q(section_id__in=taught_section_ids(user)) | Q(student__user=user))
        return self.filter(student__user=user)

    def current_on(self, day) -> EnrolmentQuerySet:
        """Enrolled on `day`: from enrolled_on up to, not including, left_on."""
        return self.filter(Q(enrolled_on__lte=day) & (Q(left_on__isnull=True) | Q(left_on__gt=day)))


class Enrolment(TimeStampedModel):
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="enrolments")
    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="enrolments")
    enrolled_on = models.DateField()
    # The first day the student is no longer in the section.
    left_on = models.DateField(null=True, blank=True)

    objects = EnrolmentQuerySet.as_manager()

    class Meta:
        ordering = ["section_id", "student_id"]
        constraints = [
            models.UniqueConstraint(fields=["section", "student"], name="campus_enrolment_unique"),
            in_order("enrolled_on", "left_on", unless_null=["left_on"], name="campus_enrolment_dates_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.student_id} in {self.section_id}"


class Teacher(TimeStampedModel):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="teacher_profile")
    staff_number = models.CharField(max_length=32, unique=True)
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="teachers"
    )

    class Meta:
        ordering = ["staff_number"]

    def __str__(self) -> str:
        return f"{self.staff_number} {self.user.get_full_name() or self.user.username}"


class TimetableSlotQuerySet(CatalogueQuerySet["TimetableSlot"]):
    def valid_on(self, day) -> TimetableSlotQuerySet:
        """Slots that apply on `day` (its weekday, within the valid dates)."""
        return self.filter(
            Q(weekday=day.weekday()) & Q(valid_from__lte=day) & (Q(valid_until__isnull=True) | Q(valid_until__gte=day))
        )


class TimetableSlot(TimeStampedModel):
    """A weekly class meeting. valid_until is inclusive; null means open-ended.

    Overlaps (same room or same section, same weekday, overlapping times and
    dates) are refused by `campus.services.save_timetable_slot`.
    """

    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="slots")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="slots")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True)

    objects = TimetableSlotQuerySet.as_manager()

    class Meta:
        ordering = ["weekday", "start_time", "room_id"]
        indexes = [
            models.Index(fields=["room", "weekday"]),
            models.Index(fields=["section", "weekday"]),
        ]
        constraints = [
            in_order("start_time", "end_time", strictly=True, name="campus_slot_times_ordered"),
            in_order("valid_from", "valid_until", unless_null=["valid_until"], name="campus_slot_dates_ordered"),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="campus_slot_weekday_valid"),
        ]

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """"The slot as people read a timetable: "Tuesday 18:45-20:45 in MAIN-101"."""
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M} in {self.room.code}"


class ComplaintQuerySet(models.QuerySet["Complaint"]):
    def visible_to(self, user) -> ComplaintQuerySet:
        """handle_complaints: all; file_complaint: only one's own."""
        if user_has(user, "handle_complaints"):
            return self
        if user_has(user, "file_complaint") and _is_person(user):
            return self.filter(author=user)
        return self.none()


class Complaint(TimeStampedModel):
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="complaints")
    category = models.CharField(max_length=16, choices=ComplaintCategory.choices, default=ComplaintCategory.OTHER)
    title = models.CharField(max_length=200)
    description = models.TextField()
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="complaints")
    priority = models.CharField(max_length=8, choices=ComplaintPriority.choices, default=ComplaintPriority.NORMAL)
    status = models.CharField(
        max_length=16, choices=ComplaintStatus.choices, default=ComplaintStatus.OPEN, db_index=True
    )
    assignee = acting_user("assigned_complaints")
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = ComplaintQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            choice_check("status", ComplaintStatus, name="campus_complaint_status_valid"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class ComplaintCommentQuerySet(models.QuerySet["ComplaintComment"]):
    def visible_to(self, user) -> ComplaintCommentQuerySet:
        return self.filter(complaint__in=Complaint.objects.visible_to(user))


class ComplaintComment(TimeStampedModel):
    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="comments")
    author = acting_user("complaint_comments", blank=False)
    body = models.TextField()

    objects = ComplaintCommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment {self.pk} on #{self.complaint_id}"
