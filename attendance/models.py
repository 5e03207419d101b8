"""Class sessions, attendance records, the attendance policy, changes and excuses.

No workflow lives here: every change goes through `attendance.services`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce

from campus.models import Enrolment, sees_whole_campus, taught_section_ids
from config.fields import acting_user, choice_check, in_order
from config.models import TimeStampedModel

from .choices import ExcuseStatus, RecordSource, RecordStatus, SessionStatus


class AttendancePolicy(TimeStampedModel):
    """The campus default (no course) or one course's override of it."""

    course = models.ForeignKey(
        "campus.Course", null=True, blank=True, on_delete=models.CASCADE, related_name="attendance_policies"
    )
    late_after_minutes = models.PositiveSmallIntegerField(
        default=10, help_text="Seen more than this many minutes after the start: late."
    )
    early_arrival_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="How long before the start a sighting already counts."
    )
    absent_if_not_seen = models.BooleanField(
        default=True, help_text="Students not seen by the end are marked absent when the session closes."
    )
    early_leave_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="Last seen more than this many minutes before the end: flagged as early leave."
    )

    class Meta:
        verbose_name_plural = "attendance policies"
        constraints = [
            # One campus default (course NULL) and at most one override per course.
            models.UniqueConstraint(Coalesce("course", Value(0)), name="attendance_policy_one_per_course"),
        ]

    def __str__(self) -> str:
        return f"Policy for {self.course}" if self.course_id else "Campus default policy"


_Rows = TypeVar("_Rows", bound=models.QuerySet)


def _visible_attendance(rows: _Rows, user, *, section: str, own: Callable[[], Q]) -> _Rows:
    """The attendance rule for sessions, records and excuses alike: view_all_students sees
    every row, a teacher the rows of the sections they teach (`section` leads there), a
    student the rows `own()` picks out."""
    if not (user and user.is_authenticated and getattr(user, "pk", None)):
        return rows.none()
    if user.has_campus_perm("view_attendance") and sees_whole_campus(user):
        return rows
    # Subqueries, not joins: no duplicate rows, and annotated counts stay right.
    scope = Q(pk__in=[])
    if user.has_campus_perm("view_attendance"):
        scope |= Q(**{f"{section}__in": taught_section_ids(user)})
    if user.has_campus_perm("view_own_attendance"):
        scope |= own()
    return rows.filter(scope)


class ClassSessionQuerySet(models.QuerySet["ClassSession"]):
    def visible_to(self, user) -> ClassSessionQuerySet:
        """view_all_students: every session; view_attendance (a teacher): the sessions of the
        sections they teach; a student: those of sections they are enrolled in."""
        # The user's own student row as a subquery: no extra query for the staff who have none.
        return _visible_attendance(
            self,
            user,
            section="section_id",
            own=lambda: Q(section_id__in=Enrolment.objects.filter(student__user_id=user.pk).values("section_id")),
        )


class ClassSession(TimeStampedModel):
    """One occurrence of a timetable slot on a date (or an ad-hoc class without a slot)."""

    slot = models.ForeignKey(
        "campus.TimetableSlot", null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    section = models.ForeignKey("campus.Section", on_delete=models.PROTECT, related_name="class_sessions")
    room = models.ForeignKey("campus.Room", on_delete=models.PROTECT, related_name="class_sessions")
    date = models.DateField(db_index=True)
    scheduled_start = models.DateTimeField()
    scheduled_end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Fraction (0..1) of the session the room's cameras were healthy; NULL when the room has none.
    camera_coverage = models.FloatField(null=True, blank=True)
    unverified_reason = models.TextField(blank=True)

    objects = ClassSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-scheduled_start", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["slot", "date"], name="attendance_session_unique_slot_date"),
            in_order("scheduled_start", "scheduled_end", strictly=True, name="attendance_session_end_after_start"),
            choice_check("status", SessionStatus, name="attendance_session_status_valid"),
            models.CheckConstraint(
                condition=Q(camera_coverage__isnull=True) | Q(camera_coverage__gte=0, camera_coverage__lte=1),
                name="attendance_session_coverage_fraction",
            ),
        ]
        indexes = [
            models.Index(fields=["room", "status", "scheduled_start"], name="attendance_session_room_idx"),
            models.Index(fields=["section", "date"], name="attendance_session_section_idx"),
            # The sessions list pages by (scheduled_start, id) descending: its first page stops early.
            models.Index(fields=["-scheduled_start", "-id"], name="attendance_session_page_idx"),
            # The beat tasks look for scheduled and open sessions only.
            models.Index(
                fields=["scheduled_end"],
                name="attendance_session_live_idx",
                condition=Q(status__in=[SessionStatus.SCHEDULED, SessionStatus.OPEN]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.section} {self.date:%Y-%m-%d} {self.scheduled_start:%H:%M}"


# A record or an excuse request.
_Owned = TypeVar("_Owned", bound=models.Model)


class StudentOwnedQuerySet(models.QuerySet[_Owned]):
    """Rows that belong to one student: records and excuse requests."""

    def visible_to(self, user) -> StudentOwnedQuerySet[_Owned]:
        """view_all_students: every row; view_attendance (a teacher): the rows of sessions of the
        sections they teach; a student: their own."""
        return _visible_attendance(self, user, section="session__section_id", own=lambda: Q(student__user_id=user.pk))


class StudentOwned(TimeStampedModel):
    """A row of one student's at one session (a record, an excuse request): read through the
    attendance visibility rule and listed newest first."""

    objects = StudentOwnedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


class AttendanceRecord(StudentOwned):
    """One student's attendance at one session, with the evidence that produced it."""

    session = models.ForeignKey(ClassSession, on_delete=models.CASCADE, related_name="records")
    student = models.ForeignKey("campus.Student", on_delete=models.CASCADE, related_name="attendance_records")
    status = models.CharField(max_length=16, choices=RecordStatus.choices)
    source = models.CharField(max_length=16, choices=RecordSource.choices)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    sightings_count = models.PositiveIntegerField(default=0)
    confidence = models.FloatField(null=True, blank=True)
    # The person who last set the status by hand; NULL when the system did.
    marked_by = acting_user("attendance_marked")
    note = models.TextField(blank=True)
    early_leave = models.BooleanField(default=False)
    # Set when the evidence contradicts itself (the same face in two rooms at once): the
    # status is then held (unverified unless a person set it) and only a person changes it.
    needs_review = models.BooleanField(default=False)

    class Meta(StudentOwned.Meta):
        constraints = [
            models.UniqueConstraint(fields=["session", "student"], name="attendance_record_unique_session_student"),
            choice_check("status", RecordStatus, name="attendance_record_status_valid"),
            choice_check("source", RecordSource, name="attendance_record_source_valid"),
            in_order(
                "first_seen_at",
                "last_seen_at",
                unless_null=["first_seen_at", "last_seen_at"],
                name="attendance_record_seen_order",
            ),
        ]
        indexes = [
            models.Index(fields=["student", "session"], name="attendance_record_student_idx"),
            models.Index(fields=["status"], name="attendance_record_status_idx"),
            # The records list pages by (created_at, id) descending over millions of rows.
            models.Index(fields=["-created_at", "-id"], name="attendance_record_page_idx"),
            models.Index(fields=["session"], condition=Q(needs_review=True), name="attendance_record_review_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.student} at {self.session}: {self.status}"


class AttendanceChange(models.Model):
    """A person's change of a record: who, from what, to what, when and why. Never edited."""

    record = models.ForeignKey(AttendanceRecord, on_delete=models.CASCADE, related_name="changes")
    changed_by = acting_user("attendance_changes", blank=False)
    # Empty when the person created the record.
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.record_id}: {self.from_status or '-'} -> {self.to_status}"


class ExcuseRequest(StudentOwned):
    """A student's request to be excused from one session, decided by staff."""

    student = models.ForeignKey("campus.Student", on_delete=models.CASCADE, related_name="excuse_requests")
    session = models.ForeignKey(ClassSession, on_delete=models.CASCADE, related_name="excuse_requests")
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=ExcuseStatus.choices, default=ExcuseStatus.PENDING)
    filed_by = acting_user("excuses_filed", blank=False)
    decided_by = acting_user("excuses_decided")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta(StudentOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["student", "session"],
                condition=Q(status=ExcuseStatus.PENDING),
                name="attendance_excuse_one_pending",
            ),
            choice_check("status", ExcuseStatus, name="attendance_excuse_status_valid"),
        ]

    def __str__(self) -> str:
        return f"Excuse {self.pk} {self.student} {self.status}"


class PlannerState(models.Model):
    """Where the session planner got to, so a run after downtime catches up from there."""

    name = models.CharField(max_length=64, unique=True)
    last_planned_date = models.DateField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_planned_date}"
