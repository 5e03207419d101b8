"""A session's lifecycle: open, cancel, close (absent or unverified for students not seen)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.audit import record_audit_event
from campus.selectors import students_enrolled_on
from config.choices import check_transition

from ..choices import SESSION_TRANSITIONS, RecordSource, RecordStatus, SessionStatus
from ..models import AttendanceRecord, ClassSession
from ..policy import policy_for
from .coverage import assess_coverage
from .marks import check_can_mark
from .records import _invalidate_dashboard_on_commit, _lock_session

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger("campus.attendance")


@dataclass
class CloseResult:
    """What close_session did: `closed` is False if it was closed already; the counts are the records it marked."""

    session: ClassSession
    closed: bool
    absent: int = 0
    unverified: int = 0
    early_leave: int = 0


def transition_session(session: ClassSession, to: str) -> None:
    """The one place a session's status moves; refuses moves the lifecycle does not allow."""
    check_transition(SESSION_TRANSITIONS, session.status, to, what="session")
    session.status = to


def _check_can_run(user: User | None, session: ClassSession) -> None:
    if user is None:
        return  # the beat tasks
    check_can_mark(user=user, session=session, overriding=False)


@transaction.atomic
def open_session(
    *, session: ClassSession | int, now: dt.datetime | None = None, by: User | None = None
) -> ClassSession:
    """Opens a scheduled session for sightings."""
    session = _lock_session(session)
    _check_can_run(by, session)
    transition_session(session, SessionStatus.OPEN)
    session.opened_at = now or timezone.now()
    session.save(update_fields=["status", "opened_at", "updated_at"])
    if by is not None:
        record_audit_event(action="attendance.session_opened", actor=by, target=f"class_session:{session.pk}")
    _invalidate_dashboard_on_commit(section_id=session.section_id)
    return session


@transaction.atomic
def cancel_session(*, session: ClassSession | int, by: User | None, reason: str = "") -> ClassSession:
    session = _lock_session(session)
    _check_can_run(by, session)
    transition_session(session, SessionStatus.CANCELLED)
    session.save(update_fields=["status", "updated_at"])
    record_audit_event(
        action="attendance.session_cancelled",
        actor=by,
        target=f"class_session:{session.pk}",
        details={"reason": reason},
    )
    _invalidate_dashboard_on_commit(section_id=session.section_id)
    return session


def _coverage_reason(session: ClassSession, coverage: float | None, problem: str) -> str:
    if problem:
        return problem
    threshold = settings.ATTENDANCE_MIN_CAMERA_COVERAGE
    return (
        f"Cameras in room {session.room} were healthy for {coverage:.0%} of the session "
        f"(below {threshold:.0%}); students not seen are unverified, not absent."
    )


@transaction.atomic
def close_session(
    *, session: ClassSession | int, now: dt.datetime | None = None, by: User | None = None
) -> CloseResult:
    """Closes a session: flags early leavers and marks every enrolled student without a record,
    absent, or unverified when the room's cameras were healthy for too little of it. Runs once."""
    now = now or timezone.now()
    session = _lock_session(session)
    if session.status == SessionStatus.CLOSED:
        return CloseResult(session=session, closed=False)
    _check_can_run(by, session)
    transition_session(session, SessionStatus.CLOSED)
    policy = policy_for(session)

    coverage, problem = assess_coverage(session)
    low_coverage = bool(problem) or (coverage is not None and coverage < settings.ATTENDANCE_MIN_CAMERA_COVERAGE)
    session.camera_coverage = coverage
    session.unverified_reason = _coverage_reason(session, coverage, problem) if low_coverage else ""
    session.closed_at = now
    session.save(update_fields=["status", "closed_at", "camera_coverage", "unverified_reason", "updated_at"])

    result = CloseResult(session=session, closed=True)
    early_cutoff = session.scheduled_end - dt.timedelta(minutes=policy.early_leave_minutes)
    result.early_leave = session.records.filter(
        source__in=[RecordSource.FACE, RecordSource.DEVICE],
        status__in=[RecordStatus.PRESENT, RecordStatus.LATE],
        last_seen_at__lt=early_cutoff,
    ).update(early_leave=True, updated_at=now)

    if policy.absent_if_not_seen:
        missing = students_enrolled_on(session.section_id, session.date).exclude(
            pk__in=session.records.values("student_id")
        )
        status = RecordStatus.UNVERIFIED if low_coverage else RecordStatus.ABSENT
        rows = [
            AttendanceRecord(session=session, student_id=pk, status=status, source=RecordSource.SYSTEM)
            for pk in missing.values_list("pk", flat=True)
        ]
        AttendanceRecord.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        if low_coverage:
            result.unverified = len(rows)
        else:
            result.absent = len(rows)
    if by is not None:
        record_audit_event(action="attendance.session_closed", actor=by, target=f"class_session:{session.pk}")
    logger.info(
        "session closed",
        extra={
            "session_id": session.pk,
            "absent": result.absent,
            "unverified": result.unverified,
            "early_leave": result.early_leave,
            "coverage": coverage,
        },
    )
    _invalidate_dashboard_on_commit(section_id=session.section_id)
    return result
