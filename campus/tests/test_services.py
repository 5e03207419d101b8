import datetime

import pytest

from accounts.models import AuditEvent
from campus import services
from campus.choices import COMPLAINT_TRANSITIONS, ComplaintStatus
from campus.models import Complaint, ComplaintComment, TimetableSlot
from campus.tests.factories import (
    ComplaintFactory,
    RoomFactory,
    SectionFactory,
    StudentFactory,
    TimetableSlotFactory,
)
from config.exceptions import Conflict, InvalidInput, NotAllowed

pytestmark = pytest.mark.django_db


def _slot(**fields):
    existing = fields.pop("like")
    values = {
        "section": existing.section,
        "room": existing.room,
        "weekday": existing.weekday,
        "start_time": existing.start_time,
        "end_time": existing.end_time,
        "valid_from": existing.valid_from,
        "valid_until": existing.valid_until,
    }
    values.update(fields)
    return TimetableSlot(**values)


# --- Timetable overlap -----------------------------------------------------------


def test_slot_in_same_room_at_overlapping_time_is_refused():
    existing = TimetableSlotFactory(start_time=datetime.time(9), end_time=datetime.time(10, 30))
    other_section = SectionFactory()
    with pytest.raises(Conflict) as caught:
        services.save_timetable_slot(
            slot=_slot(like=existing, section=other_section, start_time=datetime.time(10), end_time=datetime.time(11))
        )
    assert caught.value.code == "timetable_overlap"
    assert caught.value.details["conflicts"][0]["id"] == existing.pk
    assert caught.value.details["conflicts"][0]["reason"] == "room"
    assert TimetableSlot.objects.count() == 1


def test_slot_for_same_section_in_another_room_is_refused():
    existing = TimetableSlotFactory()
    with pytest.raises(Conflict) as caught:
        services.save_timetable_slot(slot=_slot(like=existing, room=RoomFactory()))
    assert caught.value.details["conflicts"][0]["reason"] == "section"
    assert TimetableSlot.objects.count() == 1


def test_back_to_back_slots_in_one_room_are_allowed():
    existing = TimetableSlotFactory(start_time=datetime.time(9), end_time=datetime.time(10))
    slot = services.save_timetable_slot(
        slot=_slot(like=existing, section=SectionFactory(), start_time=datetime.time(10), end_time=datetime.time(11))
    )
    assert slot.pk is not None
    assert TimetableSlot.objects.count() == 2


def test_same_time_on_another_weekday_is_allowed():
    existing = TimetableSlotFactory(weekday=0)
    services.save_timetable_slot(slot=_slot(like=existing, weekday=1))
    assert TimetableSlot.objects.count() == 2


def test_same_time_with_disjoint_validity_dates_is_allowed():
    existing = TimetableSlotFactory(valid_from=datetime.date(2026, 9, 1), valid_until=datetime.date(2026, 10, 31))
    services.save_timetable_slot(slot=_slot(like=existing, valid_from=datetime.date(2026, 11, 1), valid_until=None))
    assert TimetableSlot.objects.count() == 2


def test_open_ended_slot_overlaps_a_later_one():
    existing = TimetableSlotFactory(valid_from=datetime.date(2026, 9, 1), valid_until=None)
    with pytest.raises(Conflict):
        services.save_timetable_slot(
            slot=_slot(like=existing, valid_from=datetime.date(2027, 3, 1), valid_until=datetime.date(2027, 6, 1))
        )


def test_moving_a_slot_does_not_clash_with_itself():
    existing = TimetableSlotFactory(start_time=datetime.time(9), end_time=datetime.time(10))
    existing.end_time = datetime.time(10, 30)
    services.save_timetable_slot(slot=existing)
    existing.refresh_from_db()
    assert existing.end_time == datetime.time(10, 30)


# --- Complaint state machine ----------------------------------------------------

ALL_MOVES = [(a, b) for a in ComplaintStatus.values for b in ComplaintStatus.values]
VALID_MOVES = [(a, b) for a, b in ALL_MOVES if b in COMPLAINT_TRANSITIONS[a]]
INVALID_MOVES = [(a, b) for a, b in ALL_MOVES if b not in COMPLAINT_TRANSITIONS[a]]


def test_the_valid_moves_are_exactly_the_documented_ones():
    assert sorted(VALID_MOVES) == sorted(
        [("open", "in_progress"), ("open", "rejected"), ("in_progress", "resolved"), ("in_progress", "rejected")]
    )


@pytest.mark.parametrize(("from_status", "to_status"), VALID_MOVES)
def test_valid_complaint_move_is_made_and_audited(staff_user, from_status, to_status):
    complaint = ComplaintFactory(status=from_status)
    services.change_complaint_status(complaint=complaint, to_status=to_status, actor=staff_user)
    complaint.refresh_from_db()
    assert complaint.status == to_status
    assert (complaint.resolved_at is not None) == (to_status in {"resolved", "rejected"})
    audit = AuditEvent.objects.get(action="campus.complaint.status_changed", target=f"complaint:{complaint.pk}")
    assert audit.details == {"from": from_status, "to": to_status}


@pytest.mark.parametrize(("from_status", "to_status"), INVALID_MOVES)
def test_invalid_complaint_move_is_refused(staff_user, from_status, to_status):
    complaint = ComplaintFactory(status=from_status)
    with pytest.raises(Conflict) as caught:
        services.change_complaint_status(complaint=complaint, to_status=to_status, actor=staff_user)
    assert caught.value.code == "invalid_transition"
    complaint.refresh_from_db()
    assert complaint.status == from_status


def test_unknown_complaint_status_is_invalid_input(staff_user):
    complaint = ComplaintFactory()
    with pytest.raises(InvalidInput):
        services.change_complaint_status(complaint=complaint, to_status="closed", actor=staff_user)


def test_student_cannot_change_complaint_status(student_user):
    complaint = ComplaintFactory(author=student_user)
    with pytest.raises(NotAllowed):
        services.change_complaint_status(complaint=complaint, to_status="in_progress", actor=student_user)
    assert Complaint.objects.get(pk=complaint.pk).status == "open"


def test_starting_work_assigns_the_handler_and_keeps_the_note(staff_user):
    complaint = ComplaintFactory()
    services.change_complaint_status(complaint=complaint, to_status="in_progress", actor=staff_user, note="On it")
    complaint.refresh_from_db()
    assert complaint.assignee == staff_user
    assert ComplaintComment.objects.get(complaint=complaint).body == "On it"


def test_closed_complaint_takes_no_comments(student_user):
    complaint = ComplaintFactory(author=student_user, status="resolved")
    with pytest.raises(Conflict):
        services.add_complaint_comment(complaint=complaint, author=student_user, body="Still broken")
    assert not ComplaintComment.objects.exists()


def test_assignee_must_handle_complaints(staff_user, student_user):
    complaint = ComplaintFactory()
    with pytest.raises(InvalidInput):
        services.assign_complaint(complaint=complaint, assignee=student_user, actor=staff_user)


# --- Face consent ----------------------------------------------------------------


def test_face_consent_records_when_and_who(admin_user):
    student = StudentFactory()
    services.record_face_consent(student=student, given=True, actor=admin_user)
    student.refresh_from_db()
    assert student.has_face_consent
    assert student.face_consent_recorded_by == admin_user
    services.record_face_consent(student=student, given=False, actor=admin_user)
    student.refresh_from_db()
    assert not student.has_face_consent


def test_inactive_student_has_no_face_consent(admin_user):
    student = StudentFactory(status="graduated")
    services.record_face_consent(student=student, given=True, actor=admin_user)
    student.refresh_from_db()
    assert student.face_consent_at is not None
    assert not student.has_face_consent
