"""Every campus write that carries a business rule.

The API, the admin, the importers and seed_demo all call these functions, so
each rule (timetable overlap, the complaint state machine, face consent) is
written once.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.audit import record_audit_event, save_audited
from accounts.permissions import user_has
from config.exceptions import Conflict, InvalidInput, NotAllowed

from .choices import COMPLAINT_FINAL_STATUSES, COMPLAINT_TRANSITIONS, ComplaintStatus
from .models import Complaint, ComplaintComment, Room, Section, Student, TimetableSlot
from .signals import face_consent_withdrawn

if TYPE_CHECKING:
    from django.http import HttpRequest

    from accounts.models import User

# --- Plain records ----------------------------------------------------------


@transaction.atomic
def save_record(
    *,
    instance: models.Model,
    m2m: dict[str, Any] | None = None,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> models.Model:
    """Validate and save a campus record that has no rule beyond its constraints."""
    created = instance.pk is None
    instance.full_clean()
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise Conflict(f"This {instance._meta.verbose_name} conflicts with an existing one.", code="duplicate")
    for name, values in (m2m or {}).items():
        getattr(instance, name).set(values)
    _audit_saved(instance, created=created, actor=actor, request=request)
    return instance


def _audit_saved(instance: models.Model, *, created: bool, actor: User | None, request: HttpRequest | None) -> None:
    """`campus.<model>.created` or `.updated`, on `<model>:<pk>`."""
    model_name = instance._meta.model_name
    record_audit_event(
        action=f"campus.{model_name}.{'created' if created else 'updated'}",
        actor=actor,
        target=f"{model_name}:{instance.pk}",
        request=request,
    )


@transaction.atomic
def delete_record(*, instance: models.Model, actor: User | None = None, request: HttpRequest | None = None) -> None:
    """Delete a record; refuse (409) while other records still point at it."""
    label = f"{instance._meta.model_name}:{instance.pk}"
    try:
        with transaction.atomic():
            instance.delete()
    except models.ProtectedError as exc:
        used_by = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
        raise Conflict(
            f"This {instance._meta.verbose_name} is still in use.", code="in_use", details={"used_by": used_by}
        )
    record_audit_event(action=f"campus.{instance._meta.model_name}.deleted", actor=actor, target=label, request=request)


# --- Timetable --------------------------------------------------------------


def overlapping_slots(
    *,
    room_id: int,
    section_id: int,
    weekday: int,
    start_time: datetime.time,
    end_time: datetime.time,
    valid_from: datetime.date,
    valid_until: datetime.date | None,
    exclude_pk: int | None = None,
) -> models.QuerySet[TimetableSlot]:
    """Slots in the same room or for the same section that meet at an overlapping time.

    Times are half-open ([start, end)), so 09:00-10:00 and 10:00-11:00 do not
    overlap; validity dates are inclusive and a null end means open-ended.
    """
    dates_overlap = Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from)
    if valid_until is not None:
        dates_overlap &= Q(valid_from__lte=valid_until)
    slots = TimetableSlot.objects.filter(
        Q(room_id=room_id) | Q(section_id=section_id),
        dates_overlap,
        weekday=weekday,
        start_time__lt=end_time,
        end_time__gt=start_time,
    )
    if exclude_pk is not None:
        slots = slots.exclude(pk=exclude_pk)
    return slots.select_related("room", "section__course").order_by("start_time")


def clashes_of(slot: TimetableSlot) -> models.QuerySet[TimetableSlot]:
    """The other slots `slot` (saved or not) would overlap, by `overlapping_slots`."""
    return overlapping_slots(
        room_id=slot.room_id,
        section_id=slot.section_id,
        weekday=slot.weekday,
        start_time=slot.start_time,
        end_time=slot.end_time,
        valid_from=slot.valid_from,
        valid_until=slot.valid_until,
        exclude_pk=slot.pk,
    )


def _describe_slot(slot: TimetableSlot, *, room_id: int) -> dict[str, Any]:
    return {
        "id": slot.pk,
        "reason": "room" if slot.room_id == room_id else "section",
        "room": slot.room.code,
        "section": slot.section.full_code,
        "weekday": slot.weekday,
        "start_time": slot.start_time.strftime("%H:%M"),
        "end_time": slot.end_time.strftime("%H:%M"),
        "valid_from": slot.valid_from.isoformat(),
        "valid_until": slot.valid_until.isoformat() if slot.valid_until else None,
    }


@transaction.atomic
def save_timetable_slot(
    *, slot: TimetableSlot, actor: User | None = None, request: HttpRequest | None = None
) -> TimetableSlot:
    """Create or update a slot, refusing (409 timetable_overlap) any overlap in its room or section.

    PostgreSQL could enforce this with an exclusion constraint, but the project
    also runs on SQLite; instead the room and section rows are locked with
    SELECT ... FOR UPDATE (always room first, then section, so two writers
    cannot deadlock) before the overlap query, which serialises concurrent
    writers to one room or section.
    """
    slot.full_clean()
    # Lock order: room, then section.
    Room.objects.select_for_update().filter(pk=slot.room_id).first()
    Section.objects.select_for_update().filter(pk=slot.section_id).first()
    clashes = list(clashes_of(slot))
    if clashes:
        described = [_describe_slot(other, room_id=slot.room_id) for other in clashes]
        first = described[0]
        raise Conflict(
            f"The slot overlaps {first['section']} in {first['room']} "
            f"({first['start_time']}-{first['end_time']}): same {first['reason']}.",
            code="timetable_overlap",
            details={"conflicts": described},
        )
    created = slot.pk is None
    slot.save()
    _audit_saved(slot, created=created, actor=actor, request=request)
    return slot


# --- Students ---------------------------------------------------------------


@transaction.atomic
def record_face_consent(
    *, student: Student, given: bool, actor: User | None, request: HttpRequest | None = None
) -> Student:
    """Record (or withdraw) a student's consent to face recognition, with who recorded it."""
    student = Student.objects.select_for_update().get(pk=student.pk)
    if given:
        student.face_consent_at = timezone.now()
        student.face_consent_recorded_by = actor if getattr(actor, "pk", None) else None
    else:
        student.face_consent_at = None
        student.face_consent_recorded_by = actor if getattr(actor, "pk", None) else None
    student.save(update_fields=["face_consent_at", "face_consent_recorded_by", "updated_at"])
    record_audit_event(
        action="campus.student.face_consent_given" if given else "campus.student.face_consent_withdrawn",
        actor=actor,
        target=f"student:{student.pk}",
        request=request,
    )
    if not given:
        # Biometric data rests on consent alone (GDPR art. 9(2)(a), 17(1)(b)): withdrawing it erases them.
        face_consent_withdrawn.send(sender=Student, student=student, actor=actor, request=request)
    return student


# --- Complaints -------------------------------------------------------------


@transaction.atomic
def file_complaint(
    *, author: User, title: str, description: str, request: HttpRequest | None = None, **fields: Any
) -> Complaint:
    """A user files a complaint; it starts open and unassigned."""
    complaint = Complaint(author=author, title=title, description=description, **fields)
    complaint.status = ComplaintStatus.OPEN
    complaint.assignee = None
    complaint.resolved_at = None
    return save_audited(complaint, action="campus.complaint.filed", kind="complaint", actor=author, request=request)


AUTHOR_EDITABLE = frozenset({"title", "description", "category", "room"})
# Handlers triage (priority); the text stays the author's words.
HANDLER_EDITABLE = frozenset({"priority"})


@transaction.atomic
def update_complaint(
    *, complaint: Complaint, actor: User, changes: dict[str, Any], request: HttpRequest | None = None
) -> Complaint:
    """Edit a complaint: its text by its author while it is open; its priority by a handler until it is final."""
    complaint = Complaint.objects.select_for_update().get(pk=complaint.pk)
    # A full PUT repeats unchanged fields; only real changes are checked.
    changes = {name: value for name, value in changes.items() if getattr(complaint, name, None) != value}
    if complaint.status in COMPLAINT_FINAL_STATUSES:
        raise Conflict("A resolved or rejected complaint cannot be edited.", code="complaint_closed")
    is_handler = user_has(actor, "handle_complaints")
    is_open_author = complaint.author_id == actor.pk and complaint.status == ComplaintStatus.OPEN
    allowed = (AUTHOR_EDITABLE if is_open_author else frozenset()) | (HANDLER_EDITABLE if is_handler else frozenset())
    if not allowed:
        raise NotAllowed("Only the author may edit, and only while the complaint is open.")
    refused = sorted(set(changes) - allowed)
    if refused:
        raise NotAllowed("You may not change these fields.", details={name: ["Not editable."] for name in refused})
    for name, value in changes.items():
        setattr(complaint, name, value)
    return save_audited(
        complaint, action="campus.complaint.updated", kind="complaint", actor=actor, request=request,
        details={"fields": sorted(changes)},
    )


@transaction.atomic
def change_complaint_status(
    *, complaint: Complaint, to_status: str, actor: User, note: str = "", request: HttpRequest | None = None
) -> Complaint:
    """The complaint state machine: open -> in_progress -> resolved/rejected (open -> rejected too).

    Any other move is refused with 409 invalid_transition; an unknown status is 400.
    """
    if to_status not in ComplaintStatus.values:
        raise InvalidInput(
            "Unknown complaint status.", details={"status": [f"Choose one of {', '.join(ComplaintStatus.values)}."]}
        )
    if not user_has(actor, "handle_complaints"):
        raise NotAllowed("Only complaint handlers change a complaint's status.")
    complaint = Complaint.objects.select_for_update().get(pk=complaint.pk)
    from_status = complaint.status
    if to_status not in COMPLAINT_TRANSITIONS[from_status]:
        allowed = sorted(COMPLAINT_TRANSITIONS[from_status])
        raise Conflict(
            f"A complaint cannot go from {from_status} to {to_status}.",
            code="invalid_transition",
            details={"from": from_status, "to": to_status, "allowed": allowed},
        )
    complaint.status = to_status
    complaint.resolved_at = timezone.now() if to_status in COMPLAINT_FINAL_STATUSES else None
    if to_status == ComplaintStatus.IN_PROGRESS and complaint.assignee_id is None and getattr(actor, "pk", None):
        complaint.assignee = actor
    complaint.save(update_fields=["status", "resolved_at", "assignee", "updated_at"])
    if note.strip():
        ComplaintComment.objects.create(complaint=complaint, author=actor, body=note.strip())
    record_audit_event(
        action="campus.complaint.status_changed",
        actor=actor,
        target=f"complaint:{complaint.pk}",
        request=request,
        details={"from": from_status, "to": to_status},
    )
    return complaint


@transaction.atomic
def assign_complaint(
    *, complaint: Complaint, assignee: User | None, actor: User, request: HttpRequest | None = None
) -> Complaint:
    """Give a complaint to a handler (or None to unassign); not once it is final."""
    if not user_has(actor, "handle_complaints"):
        raise NotAllowed("Only complaint handlers assign complaints.")
    if assignee is not None and not user_has(assignee, "handle_complaints"):
        raise InvalidInput(
            "The assignee cannot handle complaints.", details={"assignee": ["This user cannot handle complaints."]}
        )
    complaint = Complaint.objects.select_for_update().get(pk=complaint.pk)
    if complaint.status in COMPLAINT_FINAL_STATUSES:
        raise Conflict("A resolved or rejected complaint cannot be reassigned.", code="complaint_closed")
    complaint.assignee = assignee
    complaint.save(update_fields=["assignee", "updated_at"])
    record_audit_event(
        action="campus.complaint.assigned",
        actor=actor,
        target=f"complaint:{complaint.pk}",
        request=request,
        details={"assignee": getattr(assignee, "pk", None)},
    )
    return complaint


@transaction.atomic
def add_complaint_comment(
    *, complaint: Complaint, author: User, body: str, request: HttpRequest | None = None
) -> ComplaintComment:
    """The author or a handler comments; a final complaint takes no more comments."""
    if not Complaint.objects.visible_to(author).filter(pk=complaint.pk).exists():
        raise NotAllowed("You may comment only on complaints you can see.")
    if complaint.status in COMPLAINT_FINAL_STATUSES:
        raise Conflict("A resolved or rejected complaint takes no more comments.", code="complaint_closed")
    comment = ComplaintComment(complaint=complaint, author=author, body=body.strip())
    try:
        comment.full_clean()
    except ValidationError:
        raise InvalidInput("The comment is empty.", details={"body": ["This field may not be blank."]})
    comment.save()
    Complaint.objects.filter(pk=complaint.pk).update(updated_at=timezone.now())
    return comment
