"""Steps every change to attendance shares: lock the session, journal a record's change, drop the caches."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from accounts.audit import record_audit_event
from campus.selectors import students_enrolled_on

from .. import dashboard, report_cache
from ..models import AttendanceChange, AttendanceRecord, ClassSession

if TYPE_CHECKING:
    from accounts.models import User
    from campus.models import Student


def _invalidate_dashboard_on_commit(*, section_id: int) -> None:
    """After commit: today's dashboard summary is dropped and the section's reports move on."""
    transaction.on_commit(dashboard.invalidate_summary)
    transaction.on_commit(lambda: report_cache.section_changed(section_id))


def _is_enrolled(student: Student, section_id: int, day: dt.date) -> bool:
    return students_enrolled_on(section_id, day).filter(pk=student.pk).exists()


def _insert_record(record: AttendanceRecord) -> bool:
    """Inserts a new record; False when another writer inserted the student's record for the session first.

    The savepoint keeps the caller's transaction usable after that lost race.
    """
    try:
        with transaction.atomic():
            record.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def _log_change(*, record: AttendanceRecord, by: User | None, from_status: str, to_status: str, reason: str) -> None:
    AttendanceChange.objects.create(
        record=record, changed_by=by, from_status=from_status, to_status=to_status, reason=reason
    )
    record_audit_event(
        action="attendance.record_changed",
        actor=by,
        target=f"attendance_record:{record.pk}",
        details={
            "session_id": record.session_id,
            "student_id": record.student_id,
            "from": from_status,
            "to": to_status,
            "reason": reason,
        },
    )


def _lock_session(session: ClassSession | int) -> ClassSession:
    pk = session.pk if isinstance(session, ClassSession) else session
    return ClassSession.objects.select_for_update(of=("self",)).select_related("section").get(pk=pk)
