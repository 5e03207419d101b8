"""The one place where attendance changes.

Sightings (`mark_seen`), people's marks (`mark_manually`, `mark_bulk`), excuse
decisions, and the session lifecycle driven by the beat tasks
(`open_due_sessions`, `close_finished_sessions`) all go through here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import record_audit_event
from campus.selectors import slots_on, students_enrolled_on
from config.choices import check_transition
from config.exceptions import Conflict, InvalidInput, NotAllowed
from config.extensions import ExtensionPoint

from . import dashboard, report_cache
from .choices import (
    MANUAL_STATUSES,
    SESSION_TRANSITIONS,
    SIGHTING_SOURCES,
    ExcuseStatus,
    MarkOutcome,
    RecordSource,
    RecordStatus,
    SessionStatus,
)
from .models import AttendanceChange, AttendanceRecord, ClassSession, ExcuseRequest, PlannerState
from .policy import EffectivePolicy, policy_for, policy_for_course

if TYPE_CHECKING:
    from accounts.models import User
    from campus.models import Room, Student

logger = logging.getLogger("campus.attendance")

PLANNER_NAME = "sessions"


# --- Camera coverage: the composition provides cameras' provider; attendance never imports cameras ---

CoverageProvider = Callable[[ClassSession], "float | None"]
# `fn(session) -> float | None`: fraction (0..1) of the session the room's cameras were healthy.
coverage_providers: ExtensionPoint[CoverageProvider] = ExtensionPoint("coverage providers")


def assess_coverage(session: ClassSession) -> tuple[float | None, str]:
    """(coverage, problem). Coverage is the lowest any provider reports; None when no provider knows the room."""
    values: list[float] = []
    for provider in coverage_providers.entries().values():
        try:
            value = provider(session)
        except Exception:  # a provider's bug must not block closing, nor make anyone absent
            logger.exception("coverage provider failed", extra={"session_id": session.pk})
            return None, "Camera health could not be determined (the coverage provider failed)."
        if value is not None:
            values.append(min(1.0, max(0.0, float(value))))
    return (min(values) if values else None), ""


# --- Results ---------------------------------------------------------------


@dataclass
class MarkResult:
    outcome: str
    record: AttendanceRecord | None = None
    session: ClassSession | None = None


class Mark(TypedDict):
    """One student's mark in `mark_bulk`."""

    student: Student
    status: str
    note: NotRequired[str | None]


@dataclass
class CloseResult:
    session: ClassSession
    closed: bool
    absent: int = 0
    unverified: int = 0
    early_leave: int = 0


@dataclass
class BeatResult:
    planned: int = 0
    opened: int = 0
    closed: int = 0
    absent: int = 0
    unverified: int = 0
    days: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _invalidate_dashboard_on_commit(*, section_id: int) -> None:
    """After commit: today's dashboard summary is dropped and the section's reports move on."""
    transaction.on_commit(dashboard.invalidate_summary)
    transaction.on_commit(lambda: report_cache.section_changed(section_id))


def _is_enrolled(student: Student, section_id: int, day: dt.date) -> bool:
    return students_enrolled_on(section_id, day).filter(pk=student.pk).exists()


# --- Sightings -------------------------------------------------------------


def _candidate_sessions(*, room: Room, at: dt.datetime) -> list[tuple[ClassSession, EffectivePolicy]]:
    """Open sessions in `room` whose attendance window holds `at`, the one already started first."""
    sessions = (
        ClassSession.objects.filter(room=room, status=SessionStatus.OPEN, scheduled_end__gte=at)
        .select_related("section")
        .order_by("scheduled_start", "id")
    )
    found = []
    for session in sessions[:10]:
        policy = policy_for(session)
        if policy.in_window(session, at):
            found.append((session, policy))
    return found


def mark_seen(
    *,
    student: Student,
    at: dt.datetime,
    source: str,
    room: Room | None = None,
    session: ClassSession | None = None,
    confidence: float | None = None,
) -> MarkResult:
    """Records that `student` was seen at `at`: present or late by the policy, earliest sighting wins.

    Idempotent (the same sighting twice changes nothing) and safe when several
    workers call it at once: one record, never an IntegrityError to the caller.
    """
    if source not in SIGHTING_SOURCES:
        raise InvalidInput(f"Source must be one of {', '.join(SIGHTING_SOURCES)}.", details={"source": source})
    if at is None or timezone.is_naive(at):
        raise InvalidInput("The sighting time must be timezone-aware.", details={"at": str(at)})
    if confidence is not None and not 0 <= confidence <= 1:
        raise InvalidInput("Confidence must be between 0 and 1.", details={"confidence": confidence})
    if session is None and room is None:
        raise InvalidInput("Give the room or the session of the sighting.")

    if session is not None:
        # A named session also takes sightings after it closed (a device uploading late).
        policy = policy_for(session)
        usable = session.status in (SessionStatus.OPEN, SessionStatus.CLOSED) and policy.in_window(session, at)
        if room is not None and session.room_id != room.pk:
            usable = False
        if not usable:
            return MarkResult(MarkOutcome.NO_SESSION, None, None)
        candidates = [(session, policy)]
    else:
        assert room is not None  # refused above without either
        candidates = _candidate_sessions(room=room, at=at)
    found = _enrolled_candidate(student, candidates)
    if found is None:
        return _not_found(candidates)
    return _record_sighting(
        session=found[0], policy=found[1], student=student, at=at, source=source, confidence=confidence
    )


def _enrolled_candidate(
    student: Student, candidates: list[tuple[ClassSession, EffectivePolicy]]
) -> tuple[ClassSession, EffectivePolicy] | None:
    """The first candidate session whose section has the student enrolled on its date."""
    return next(((s, p) for s, p in candidates if _is_enrolled(student, s.section_id, s.date)), None)


def _not_found(candidates: list[tuple[ClassSession, EffectivePolicy]]) -> MarkResult:
    if not candidates:
        return MarkResult(MarkOutcome.NO_SESSION, None, None)
    return MarkResult(MarkOutcome.NOT_ENROLLED, None, candidates[0][0])


@transaction.atomic
def hold_for_review(*, student: Student, at: dt.datetime, room: Room, reason: str) -> MarkResult:
    """The evidence that `student` was in `room` at `at` is in doubt (seen in two rooms at once).

    The record of the session there is held: created or set `unverified` (a person's
    decision stands) with `needs_review`, and no later automatic sighting changes its
    status; a person resolves it by marking it (`mark_manually`, `mark_bulk`).
    """
    candidates = _candidate_sessions(room=room, at=at)
    found = _enrolled_candidate(student, candidates)
    if found is None:
        return _not_found(candidates)
    session = found[0]
    record = AttendanceRecord.objects.select_for_update().filter(session=session, student=student).first()
    if record is None:
        record = AttendanceRecord(
            session=session, student=student, status=RecordStatus.UNVERIFIED, source=RecordSource.FACE,
            needs_review=True, note=reason,
        )
        try:
            with transaction.atomic():
                record.save(force_insert=True)
        except IntegrityError:  # a sighting created it meanwhile: hold that one
            record = AttendanceRecord.objects.select_for_update().get(session=session, student=student)
        else:
            _log_change(record=record, by=None, from_status="", to_status=record.status, reason=reason)
            _invalidate_dashboard_on_commit(section_id=session.section_id)
            return MarkResult(MarkOutcome.HELD, record, session)
    if record.needs_review:
        return MarkResult(MarkOutcome.UNCHANGED, record, session)
    from_status = record.status
    record.needs_review = True
    record.note = f"{record.note}\n{reason}".strip()
    if record.marked_by_id is None and record.status in (RecordStatus.PRESENT, RecordStatus.LATE):
        record.status = RecordStatus.UNVERIFIED
    record.save(update_fields=["needs_review", "note", "status", "updated_at"])
    _log_change(record=record, by=None, from_status=from_status, to_status=record.status, reason=reason)
    _invalidate_dashboard_on_commit(section_id=session.section_id)
    return MarkResult(MarkOutcome.HELD, record, session)


def _record_sighting(
    *,
    session: ClassSession,
    policy: EffectivePolicy,
    student: Student,
    at: dt.datetime,
    source: str,
    confidence: float | None,
) -> MarkResult:
    with transaction.atomic():
        record = AttendanceRecord.objects.select_for_update().filter(session=session, student=student).first()
        if record is None:
            record = AttendanceRecord(
                session=session,
                student=student,
                status=policy.status_for(session, at),
                source=source,
                first_seen_at=at,
                last_seen_at=at,
                sightings_count=1,
                confidence=confidence,
                early_leave=session.status == SessionStatus.CLOSED and policy.left_early(session, at),
            )
            try:
                # The savepoint lets a lost race fall through to the update below.
                with transaction.atomic():
                    record.save(force_insert=True)
            except IntegrityError:
                record = AttendanceRecord.objects.select_for_update().get(session=session, student=student)
            else:
                _invalidate_dashboard_on_commit(section_id=session.section_id)
                return MarkResult(MarkOutcome.MARKED, record, session)

        changed = _apply_sighting(record, session=session, policy=policy, at=at, source=source, confidence=confidence)
        if not changed:
            return MarkResult(MarkOutcome.UNCHANGED, record, session)
        record.save(update_fields=[*changed, "updated_at"])
        _invalidate_dashboard_on_commit(section_id=session.section_id)
        return MarkResult(MarkOutcome.UPDATED, record, session)


def _apply_sighting(
    record: AttendanceRecord,
    *,
    session: ClassSession,
    policy: EffectivePolicy,
    at: dt.datetime,
    source: str,
    confidence: float | None,
) -> list[str]:
    """Folds one sighting into `record`; returns the changed fields (none for a repeat)."""
    if at in (record.first_seen_at, record.last_seen_at):
        return []
    changed: list[str] = ["sightings_count"]
    record.sightings_count += 1
    if record.first_seen_at is None or at < record.first_seen_at:
        record.first_seen_at = at
        changed.append("first_seen_at")
    if record.last_seen_at is None or at > record.last_seen_at:
        record.last_seen_at = at
        changed.append("last_seen_at")
    if confidence is not None and (record.confidence is None or confidence > record.confidence):
        record.confidence = confidence
        changed.append("confidence")
    # A person's decision (marked_by set) stands, and so does a hold for review; the evidence is still kept.
    if record.marked_by_id is None and record.status != RecordStatus.EXCUSED and not record.needs_review:
        status = policy.status_for(session, record.first_seen_at)
        if status != record.status:
            record.status = status
            changed.append("status")
        if record.source == RecordSource.SYSTEM:
            record.source = source
            changed.append("source")
    if session.status == SessionStatus.CLOSED:
        early = policy.left_early(session, record.last_seen_at)
        if early != record.early_leave:
            record.early_leave = early
            changed.append("early_leave")
    return changed


# --- People's marks --------------------------------------------------------


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
        try:
            with transaction.atomic():
                record.save(force_insert=True)
        except IntegrityError:
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


def _lock_session(session: ClassSession | int) -> ClassSession:
    pk = session.pk if isinstance(session, ClassSession) else session
    return ClassSession.objects.select_for_update(of=("self",)).select_related("section").get(pk=pk)


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


# --- Excuses ---------------------------------------------------------------


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


# --- Session lifecycle -----------------------------------------------------


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


def _aware(day: dt.date, time: dt.time) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, time))


def plan_sessions(*, day: dt.date) -> int:
    """Creates the day's sessions from the timetable (slots valid that day, within the term). Idempotent."""
    slots = slots_on(day).filter(section__term__start_date__lte=day, section__term__end_date__gte=day)
    existing = set(ClassSession.objects.filter(date=day, slot__isnull=False).values_list("slot_id", flat=True))
    rows = [
        ClassSession(
            slot=slot,
            section_id=slot.section_id,
            room_id=slot.room_id,
            date=day,
            scheduled_start=_aware(day, slot.start_time),
            scheduled_end=_aware(day, slot.end_time),
        )
        for slot in slots
        if slot.pk not in existing
    ]
    ClassSession.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _days_to_plan(now: dt.datetime) -> list[dt.date]:
    """Today, and every day since the planner last ran (at most ATTENDANCE_CATCH_UP_DAYS back)."""
    today = timezone.localdate(now)
    state = PlannerState.objects.filter(name=PLANNER_NAME).first()
    earliest = today - dt.timedelta(days=settings.ATTENDANCE_CATCH_UP_DAYS)
    start = today if state is None else max(min(state.last_planned_date, today), earliest)
    return [start + dt.timedelta(days=n) for n in range((today - start).days + 1)]


def open_due_sessions(*, now: dt.datetime | None = None) -> BeatResult:
    """Plans today's (and missed days') sessions from the timetable and opens those whose window began."""
    now = now or timezone.now()
    result = BeatResult()
    days = _days_to_plan(now)
    for day in days:
        result.planned += plan_sessions(day=day)
    result.days = [day.isoformat() for day in days]
    PlannerState.objects.update_or_create(name=PLANNER_NAME, defaults={"last_planned_date": days[-1]})

    # Candidates: not over yet, and starting within a day (no early window is longer).
    due = ClassSession.objects.filter(
        status=SessionStatus.SCHEDULED, scheduled_end__gt=now, scheduled_start__lte=now + dt.timedelta(days=1)
    ).select_related("section")
    policies: dict[int, EffectivePolicy] = {}
    for session in due:
        course_id = session.section.course_id
        if course_id not in policies:
            policies[course_id] = policy_for_course(course_id)
        if policies[course_id].window_opens(session) > now:
            continue
        # A conditional update claims the session, so two beats never both open it.
        claimed = ClassSession.objects.filter(pk=session.pk, status=SessionStatus.SCHEDULED).update(
            status=SessionStatus.OPEN, opened_at=now, updated_at=now
        )
        result.opened += claimed
    if result.opened or result.planned:
        dashboard.invalidate_summary()
    return result


def close_finished_sessions(*, now: dt.datetime | None = None) -> BeatResult:
    """Closes every scheduled or open session that has ended, however long ago (catch-up after downtime)."""
    now = now or timezone.now()
    result = BeatResult()
    ended = (
        ClassSession.objects.filter(
            Q(status=SessionStatus.OPEN) | Q(status=SessionStatus.SCHEDULED), scheduled_end__lte=now
        )
        .order_by("scheduled_end", "id")
        .values_list("pk", flat=True)
    )
    for pk in list(ended):
        outcome = close_session(session=pk, now=now)
        if outcome.closed:
            result.closed += 1
            result.absent += outcome.absent
            result.unverified += outcome.unverified
    return result
