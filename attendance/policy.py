"""The attendance policy in force for a session: a course's override, else the campus default.

The campus default is the `AttendancePolicy` row without a course, and, when
nobody has saved one, the `ATTENDANCE_*` settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from .choices import RecordStatus
from .models import AttendancePolicy, ClassSession


@dataclass(frozen=True)
class EffectivePolicy:
    late_after_minutes: int
    early_arrival_minutes: int
    absent_if_not_seen: bool
    early_leave_minutes: int
    course_override: bool = False

    def window_opens(self, session: ClassSession) -> datetime:
        """The first moment a sighting counts for the session."""
        return session.scheduled_start - timedelta(minutes=self.early_arrival_minutes)

    def in_window(self, session: ClassSession, at: datetime) -> bool:
        return self.window_opens(session) <= at <= session.scheduled_end

    def status_for(self, session: ClassSession, first_seen: datetime) -> str:
        """Present up to and including `late_after_minutes` after the start; late after that."""
        late_from = session.scheduled_start + timedelta(minutes=self.late_after_minutes)
        return RecordStatus.PRESENT if first_seen <= late_from else RecordStatus.LATE

    def left_early(self, session: ClassSession, last_seen: datetime | None) -> bool:
        if last_seen is None:
            return False
        return last_seen < session.scheduled_end - timedelta(minutes=self.early_leave_minutes)


def _from_row(row: AttendancePolicy, *, course_override: bool) -> EffectivePolicy:
    return EffectivePolicy(
        late_after_minutes=row.late_after_minutes,
        early_arrival_minutes=row.early_arrival_minutes,
        absent_if_not_seen=row.absent_if_not_seen,
        early_leave_minutes=row.early_leave_minutes,
        course_override=course_override,
    )


def default_policy() -> EffectivePolicy:
    row = AttendancePolicy.objects.filter(course__isnull=True).first()
    if row is not None:
        return _from_row(row, course_override=False)
    return EffectivePolicy(
        late_after_minutes=settings.ATTENDANCE_LATE_AFTER_MINUTES,
        early_arrival_minutes=settings.ATTENDANCE_EARLY_ARRIVAL_MINUTES,
        absent_if_not_seen=settings.ATTENDANCE_ABSENT_IF_NOT_SEEN,
        early_leave_minutes=settings.ATTENDANCE_EARLY_LEAVE_MINUTES,
    )


def policy_for_course(course_id: int | None) -> EffectivePolicy:
    if course_id is not None:
        row = AttendancePolicy.objects.filter(course_id=course_id).first()
        if row is not None:
            return _from_row(row, course_override=True)
    return default_policy()


def policy_for(session: ClassSession) -> EffectivePolicy:
    """The policy in force for `session` (its section's course override, else the default)."""
    return policy_for_course(session.section.course_id)
