"""Sightings: `mark_seen` marks a student seen by a camera or device, `hold_for_review` holds doubtful evidence."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from config.exceptions import InvalidInput

from ..choices import SIGHTING_SOURCES, MarkOutcome, RecordSource, RecordStatus, SessionStatus
from ..models import AttendanceRecord, ClassSession
from ..policy import EffectivePolicy, policy_for
from .records import _insert_record, _invalidate_dashboard_on_commit, _is_enrolled, _log_change

if TYPE_CHECKING:
    from campus.models import Room, Student


@dataclass
class MarkResult:
    outcome: str
    record: AttendanceRecord | None = None
    session: ClassSession | None = None


@dataclass(frozen=True)
class _Sighting:
    """One sighting of a student, with the session it counts for and that session's policy."""

    session: ClassSession
    policy: EffectivePolicy
    student: Student
    at: dt.datetime
    source: str
    confidence: float | None


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
        _Sighting(session=found[0], policy=found[1], student=student, at=at, source=source, confidence=confidence)
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
        if _insert_record(record):
            _log_change(record=record, by=None, from_status="", to_status=record.status, reason=reason)
            _invalidate_dashboard_on_commit(section_id=session.section_id)
            return MarkResult(MarkOutcome.HELD, record, session)
        # A sighting created it meanwhile: hold that one.
        record = AttendanceRecord.objects.select_for_update().get(session=session, student=student)
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


def _record_sighting(sighting: _Sighting) -> MarkResult:
    session, policy, student, at = sighting.session, sighting.policy, sighting.student, sighting.at
    with transaction.atomic():
        record = AttendanceRecord.objects.select_for_update().filter(session=session, student=student).first()
        if record is None:
            record = AttendanceRecord(
                session=session,
                student=student,
                status=policy.status_for(session, at),
                source=sighting.source,
                first_seen_at=at,
                last_seen_at=at,
                sightings_count=1,
                confidence=sighting.confidence,
                early_leave=session.status == SessionStatus.CLOSED and policy.left_early(session, at),
            )
            if _insert_record(record):
                _invalidate_dashboard_on_commit(section_id=session.section_id)
                return MarkResult(MarkOutcome.MARKED, record, session)
            # A lost race falls through to the update below.
            record = AttendanceRecord.objects.select_for_update().get(session=session, student=student)

        changed = _apply_sighting(record, sighting)
        if not changed:
            return MarkResult(MarkOutcome.UNCHANGED, record, session)
        record.save(update_fields=[*changed, "updated_at"])
        _invalidate_dashboard_on_commit(section_id=session.section_id)
        return MarkResult(MarkOutcome.UPDATED, record, session)


def _apply_sighting(record: AttendanceRecord, sighting: _Sighting) -> list[str]:
    """Folds one sighting into `record`; returns the changed fields (none for a repeat)."""
    session, policy, at, confidence = sighting.session, sighting.policy, sighting.at, sighting.confidence
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
            record.source = sighting.source
            changed.append("source")
    if session.status == SessionStatus.CLOSED:
        early = policy.left_early(session, record.last_seen_at)
        if early != record.early_leave:
            record.early_leave = early
            changed.append("early_leave")
    return changed
