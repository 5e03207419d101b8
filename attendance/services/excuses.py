"""Excuse requests: a student files one, staff decide it; an approval makes the record excused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import record_audit_event
from config.exceptions import Conflict, InvalidInput, NotAllowed

from ..choices import ExcuseStatus, RecordStatus, SessionStatus
from ..models import AttendanceRecord, ClassSession, ExcuseRequest
from .marks import _set_status
from .records import _invalidate_dashboard_on_commit, _is_enrolled, _lock_session

if TYPE_CHECKING:
    from accounts.models import User
    from campus.models import Student


@transaction.atomic
def file_excuse(*, student: Student, session: ClassSession, reason: str, by: User) -> ExcuseRequest:
    """A student (or staff on their behalf) asks to be excused from one session."""
    if not reason or not reason.strip():
        raise InvalidInput("Give a reason.", details={"reason": ["This field may not be blank."]})
    own = getattr(by, "student_profile", None) is not None and by.student_profile.pk == student.pk
    if not own and not by.has_campus_perm("mark_attendance"):
        raise NotAllowed("You can ask to be excused only for yourself.")
    if session.status == SessionStatus.CANCELLED:
        raise Conflict("The session was cancelled.", code="session_cancelled")
    if not _is_enrolled(student, session.section_id, session.date):
        raise InvalidInput("You are not enrolled in this session's section.", code="not_enrolled")
    if AttendanceRecord.objects.filter(session=session, student=student, status=RecordStatus.EXCUSED).exists():
        raise Conflict("Already excused for this session.", code="already_excused")
    excuse = ExcuseRequest(student=student, session=session, reason=reason.strip(), filed_by=by)
    excuse.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            excuse.save()
    except IntegrityError:
        raise Conflict("A request for this session is already pending.", code="excuse_pending")
    record_audit_event(action="attendance.excuse_filed", actor=by, target=f"excuse:{excuse.pk}")
    return excuse


@transaction.atomic
def decide_excuse(*, excuse: ExcuseRequest, approve: bool, by: User, note: str = "") -> ExcuseRequest:
    """Staff approve (the record becomes excused) or refuse a pending request."""
    excuse = ExcuseRequest.objects.select_for_update().select_related("session__section", "student").get(pk=excuse.pk)
    if excuse.status != ExcuseStatus.PENDING:
        raise Conflict(f"The request was already {excuse.status}.", code="excuse_decided")
    session = _lock_session(excuse.session_id)
    if not by.has_campus_perm("edit_attendance"):
        raise NotAllowed("Deciding excuse requests needs the edit_attendance permission.")
    if not by.has_campus_perm("manage_campus") and not session.section.teachers.filter(pk=by.pk).exists():
        raise NotAllowed("You can decide requests only for sections you teach.")
    now = timezone.now()
    excuse.status = ExcuseStatus.APPROVED if approve else ExcuseStatus.REFUSED
    excuse.decided_by = by
    excuse.decided_at = now
    excuse.decision_note = note
    excuse.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
    if approve:
        # The edit window does not apply: the approval itself is the documented decision.
        _set_status(
            session=session,
            student=excuse.student,
            status=RecordStatus.EXCUSED,
            by=by,
            reason=f"Excuse request {excuse.pk} approved: {excuse.reason}"[:2000],
            note=None,
            check=False,
            now=now,
        )
        _invalidate_dashboard_on_commit(section_id=session.section_id)
    record_audit_event(
        action="attendance.excuse_decided",
        actor=by,
        target=f"excuse:{excuse.pk}",
        details={"status": excuse.status, "note": note},
    )
    return excuse
