"""People's marks: a teacher or admin marks one student (`mark_manually`) or a whole session (`mark_bulk`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, NotRequired, TypedDict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.exceptions import Conflict, InvalidInput, NotAllowed

from ..choices import MANUAL_STATUSES, RecordSource, SessionStatus
from ..models import AttendanceRecord, ClassSession
from .records import _insert_record, _invalidate_dashboard_on_commit, _is_enrolled, _lock_session, _log_change

if TYPE_CHECKING:
    from accounts.models import User
    from campus.models import Student


class Mark(TypedDict):
    """One student's mark in `mark_bulk`."""

    student: Student
    status: str
    note: NotRequired[str | None]


def _is_admin(user: User) -> bool:
    return user.has_role_at_least("admin")


def check_can_mark(
    *, user: User | None, session: ClassSession, overriding: bool, now: dt.datetime | None = None
) -> None:
    """Raises NotAllowed unless `user` may mark (or, `overriding`, change) records of `session`."""
    if not (user and user.is_authenticated and getattr(user, "pk", None)):
        raise NotAllowed("Only a signed-in person can mark attendance.")
    if not user.has_campus_perm("mark_attendance"):
        raise NotAllowed("Your role does not allow marking attendance.")
    if overriding and not user.has_campus_perm("edit_attendance"):
        raise NotAllowed("Changing an existing record needs the edit_attendance permission.")
    if not user.has_campus_perm("manage_campus") and not session.section.teachers.filter(pk=user.pk).exists():
        raise NotAllowed("You can mark attendance only for sections you teach.")
    if session.status == SessionStatus.CLOSED and not _is_admin(user):
        now = now or timezone.now()
        closed_at = session.closed_at or session.scheduled_end
        days = settings.ATTENDANCE_EDIT_WINDOW_DAYS
        if closed_at < now - dt.timedelta(days=days):
            raise NotAllowed(f"The session closed more than {days} days ago; only admins can change it.")


def _set_status(
    *,
    session: ClassSession,
    student: Student,
    status: str,
    by: User,
    reason: str,
    note: str | None,
    check: bool,
    now: dt.datetime,
) -> tuple[AttendanceRecord, bool]:
    """Sets one student's status by hand, inside the caller's transaction. Returns (record, changed)."""
    if status not in MANUAL_STATUSES:
        raise InvalidInput(
            f"Status must be one of {', '.join(MANUAL_STATUSES)}.", details={"status": [f"{status!r} is not allowed."]}
        )
    if not _is_enrolled(student, session.section_id, session.date):
        raise InvalidInput(
            "The student is not enrolled in this session's section.",
            code="not_enrolled",
            details={"student": student.pk},
        )
    record = AttendanceRecord.objects.select_for_update().filter(session=session, student=student).first()
    overriding = record is not None and record.status != status
    if check:
        check_can_mark(user=by, session=session, overriding=overriding, now=now)
    if overriding and not reason.strip():
        raise InvalidInput("Say why the record is changed.", details={"reason": ["A reason is required to override."]})
    if record is None:
        record = AttendanceRecord(
            session=session, student=student, status=status, source=RecordSource.MANUAL, marked_by=by, note=note or ""
        )
        record.full_clean(validate_unique=False, validate_constraints=False)
        if not _insert_record(record):
            # A sighting created it meanwhile: treat as an override of that record.
            return _set_status(
                session=session, student=student, status=status, by=by, reason=reason, note=note, check=check, now=now
            )
        _log_change(record=record, by=by, from_status="", to_status=status, reason=reason)
        return record, True
    if not overriding and not record.needs_review and (note is None or note == record.note):
        return record, False
    from_status = record.status
    record.status = status
    record.marked_by = by
    record.needs_review = False  # a person has looked at it
    if note is not None:
        record.note = note
    record.full_clean(validate_unique=False, validate_constraints=False)
    record.save(update_fields=["status", "marked_by", "note", "needs_review", "updated_at"])
    if overriding:
        _log_change(record=record, by=by, from_status=from_status, to_status=status, reason=reason)
    return record, True


@transaction.atomic
def mark_manually(
    *, session: ClassSession, student: Student, status: str, by: User, reason: str = "", note: str | None = None
) -> AttendanceRecord:
    """A person marks one student; changing an existing status needs edit_attendance and a reason."""
    session = _lock_session(session)
    if session.status == SessionStatus.CANCELLED:
        raise Conflict("The session was cancelled.", code="session_cancelled")
    record, changed = _set_status(
        session=session, student=student, status=status, by=by, reason=reason, note=note, check=True, now=timezone.now()
    )
    if changed:
        _invalidate_dashboard_on_commit(section_id=session.section_id)
    return record


@transaction.atomic
def mark_bulk(
    *, session: ClassSession, marks: Iterable[Mark], by: User, reason: str = ""
) -> list[AttendanceRecord]:
    """Marks many students of one session at once: all or nothing.

    `marks` holds dicts with `student` (a campus Student), `status` and optionally `note`.
    """
    session = _lock_session(session)
    if session.status == SessionStatus.CANCELLED:
        raise Conflict("The session was cancelled.", code="session_cancelled")
    now = timezone.now()
    marks = list(marks)
    seen: set[int] = set()
    for mark in marks:
        if mark["student"].pk in seen:
            raise InvalidInput("A student appears twice.", details={"student": mark["student"].pk})
        seen.add(mark["student"].pk)
    records = []
    any_changed = False
    for mark in marks:
        record, changed = _set_status(
            session=session,
            student=mark["student"],
            status=mark["status"],
            by=by,
            reason=reason,
            note=mark.get("note"),
            check=True,
            now=now,
        )
        records.append(record)
        any_changed = any_changed or changed
    if any_changed:
        _invalidate_dashboard_on_commit(section_id=session.section_id)
    return records
