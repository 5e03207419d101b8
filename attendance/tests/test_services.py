import datetime as dt

import pytest

from attendance import services
from attendance.choices import MarkOutcome, RecordSource, RecordStatus, SessionStatus
from attendance.models import AttendanceChange, AttendancePolicy, AttendanceRecord
from attendance.tests.conftest import at
from attendance.tests.factories import AttendanceRecordFactory, ClassSessionFactory, EnrolmentFactory
from config.exceptions import Conflict, InvalidInput, NotAllowed

pytestmark = pytest.mark.django_db


def seen(student, when, room, **kwargs):
    return services.mark_seen(student=student, at=when, source=RecordSource.FACE, room=room, **kwargs)


# --- Policy ------------------------------------------------------------------


def test_seen_before_the_start_is_present(session, room, students):
    result = seen(students[0], at(8, 50), room)
    assert result.outcome == MarkOutcome.MARKED
    assert result.record.status == RecordStatus.PRESENT
    assert result.session == session


def test_seen_exactly_at_the_late_boundary_is_present(session, room, students):
    # Default policy: late *after* 10 minutes.
    assert seen(students[0], at(9, 10), room).record.status == RecordStatus.PRESENT


def test_seen_one_second_after_the_late_boundary_is_late(session, room, students):
    assert seen(students[0], at(9, 10, 1), room).record.status == RecordStatus.LATE


def test_course_override_moves_the_late_boundary(session, room, students):
    AttendancePolicy.objects.create(course=session.section.course, late_after_minutes=5)
    assert seen(students[0], at(9, 6), room).record.status == RecordStatus.LATE
    assert seen(students[1], at(9, 5), room).record.status == RecordStatus.PRESENT


def test_campus_default_row_replaces_the_settings(session, room, students):
    AttendancePolicy.objects.create(course=None, late_after_minutes=0)
    assert seen(students[0], at(9, 0, 1), room).record.status == RecordStatus.LATE


def test_seen_before_the_early_arrival_window_finds_no_session(session, room, students):
    # Default early-arrival window: 15 minutes.
    assert seen(students[0], at(8, 44, 59), room).outcome == MarkOutcome.NO_SESSION
    assert seen(students[0], at(8, 45), room).outcome == MarkOutcome.MARKED


def test_seen_after_the_end_finds_no_session(session, room, students):
    assert seen(students[0], at(10, 0, 1), room).outcome == MarkOutcome.NO_SESSION
    assert not AttendanceRecord.objects.exists()


# --- mark_seen -----------------------------------------------------------------


def test_same_sighting_twice_changes_nothing(session, room, students):
    first = seen(students[0], at(9, 2), room, confidence=0.8)
    second = seen(students[0], at(9, 2), room, confidence=0.8)
    assert (first.outcome, second.outcome) == (MarkOutcome.MARKED, MarkOutcome.UNCHANGED)
    record = AttendanceRecord.objects.get()
    assert record.sightings_count == 1
    assert record.first_seen_at == record.last_seen_at == at(9, 2)


def test_second_sighting_keeps_first_seen_time(session, room, students):
    seen(students[0], at(9, 2), room)
    result = seen(students[0], at(9, 40), room)
    assert result.outcome == MarkOutcome.UPDATED
    record = AttendanceRecord.objects.get()
    assert (record.first_seen_at, record.last_seen_at, record.sightings_count) == (at(9, 2), at(9, 40), 2)
    assert record.status == RecordStatus.PRESENT


def test_earlier_sighting_arriving_late_wins_and_fixes_the_status(session, room, students):
    seen(students[0], at(9, 30), room)
    assert AttendanceRecord.objects.get().status == RecordStatus.LATE
    seen(students[0], at(9, 1), room)
    record = AttendanceRecord.objects.get()
    assert record.first_seen_at == at(9, 1)
    assert record.last_seen_at == at(9, 30)
    assert record.status == RecordStatus.PRESENT


def test_student_not_enrolled_is_not_marked(session, room, outsider):
    result = seen(outsider, at(9, 0), room)
    assert result.outcome == MarkOutcome.NOT_ENROLLED
    assert result.session == session
    assert result.record is None
    assert not AttendanceRecord.objects.exists()


def test_student_who_left_the_section_is_not_marked(session, room, section, outsider):
    EnrolmentFactory(section=section, student=outsider, enrolled_on=dt.date(2026, 9, 1), left_on=dt.date(2026, 11, 1))
    assert seen(outsider, at(9, 0), room).outcome == MarkOutcome.NOT_ENROLLED


def test_scheduled_session_not_yet_open_takes_no_sightings(session, room, students):
    session.status = SessionStatus.SCHEDULED
    session.save()
    assert seen(students[0], at(9, 0), room).outcome == MarkOutcome.NO_SESSION


def test_back_to_back_sessions_pick_the_one_the_student_is_enrolled_in(session, room, outsider, section):
    later = ClassSessionFactory(room=room, date=session.date, scheduled_start=at(10), scheduled_end=at(11))
    EnrolmentFactory(section=later.section, student=outsider, enrolled_on=dt.date(2026, 9, 1))
    result = seen(outsider, at(9, 55), room)
    assert result.outcome == MarkOutcome.MARKED
    assert result.session == later


def test_sighting_does_not_override_a_persons_mark(session, room, students, teacher):
    services.mark_manually(session=session, student=students[0], status=RecordStatus.ABSENT, by=teacher)
    result = seen(students[0], at(9, 0), room)
    assert result.outcome == MarkOutcome.UPDATED
    record = AttendanceRecord.objects.get()
    assert record.status == RecordStatus.ABSENT
    assert record.first_seen_at == at(9, 0)


# --- Held for review --------------------------------------------------------

REVIEW_REASON = "Seen by face in two rooms at once."


def hold(student, when, room):
    return services.hold_for_review(student=student, at=when, room=room, reason=REVIEW_REASON)


def test_hold_without_a_record_creates_an_unverified_one_for_review(session, room, students):
    result = hold(students[0], at(9, 5), room)
    assert result.outcome == MarkOutcome.HELD
    record = AttendanceRecord.objects.get()
    assert (record.status, record.needs_review, record.note) == (RecordStatus.UNVERIFIED, True, REVIEW_REASON)
    assert AttendanceChange.objects.get(record=record).to_status == RecordStatus.UNVERIFIED


def test_hold_takes_back_a_mark_made_by_sightings(session, room, students):
    seen(students[0], at(8, 55), room)
    hold(students[0], at(8, 55), room)
    record = AttendanceRecord.objects.get()
    assert (record.status, record.needs_review) == (RecordStatus.UNVERIFIED, True)
    assert AttendanceChange.objects.filter(record=record, from_status="present", to_status="unverified").exists()


def test_held_record_is_not_changed_by_later_sightings(session, room, students):
    hold(students[0], at(9, 5), room)
    result = seen(students[0], at(9, 20), room)
    record = AttendanceRecord.objects.get()
    assert result.record == record
    assert (record.status, record.needs_review, record.last_seen_at) == (RecordStatus.UNVERIFIED, True, at(9, 20))


def test_hold_keeps_a_persons_mark_but_flags_it(session, room, students, teacher):
    services.mark_manually(session=session, student=students[0], status=RecordStatus.PRESENT, by=teacher)
    hold(students[0], at(9, 5), room)
    record = AttendanceRecord.objects.get()
    assert (record.status, record.needs_review) == (RecordStatus.PRESENT, True)


def test_holding_twice_changes_nothing_the_second_time(session, room, students):
    hold(students[0], at(9, 5), room)
    assert hold(students[0], at(9, 6), room).outcome == MarkOutcome.UNCHANGED
    assert AttendanceChange.objects.count() == 1


def test_hold_for_a_student_not_enrolled_writes_nothing(session, room, outsider):
    assert hold(outsider, at(9, 5), room).outcome == MarkOutcome.NOT_ENROLLED
    assert not AttendanceRecord.objects.exists()


def test_a_person_confirming_the_same_status_clears_the_review(session, room, students, teacher):
    services.mark_manually(session=session, student=students[0], status=RecordStatus.PRESENT, by=teacher)
    hold(students[0], at(9, 5), room)
    services.mark_manually(session=session, student=students[0], status=RecordStatus.PRESENT, by=teacher)
    assert not AttendanceRecord.objects.get().needs_review


def test_closing_leaves_a_held_record_for_review(session, room, students):
    hold(students[0], at(9, 5), room)
    services.close_session(session=session, now=at(10, 5))
    record = AttendanceRecord.objects.get(student=students[0])
    assert (record.status, record.needs_review) == (RecordStatus.UNVERIFIED, True)
    assert AttendanceRecord.objects.filter(status=RecordStatus.ABSENT).count() == 2


def test_naive_time_is_refused(session, room, students):
    with pytest.raises(InvalidInput):
        services.mark_seen(student=students[0], at=dt.datetime(2026, 11, 16, 9), source="face", room=room)


def test_manual_source_is_refused_for_sightings(session, room, students):
    with pytest.raises(InvalidInput):
        services.mark_seen(student=students[0], at=at(9), source=RecordSource.MANUAL, room=room)


def test_late_upload_for_a_closed_session_upgrades_the_system_absence(session, room, students):
    services.close_session(session=session, now=at(10))
    assert AttendanceRecord.objects.get(student=students[0]).status == RecordStatus.ABSENT
    session.refresh_from_db()
    result = services.mark_seen(student=students[0], at=at(9, 3), source=RecordSource.DEVICE, session=session)
    assert result.outcome == MarkOutcome.UPDATED
    record = AttendanceRecord.objects.get(student=students[0])
    assert (record.status, record.source) == (RecordStatus.PRESENT, RecordSource.DEVICE)
    # Last seen at 09:03, long before the end: flagged.
    assert record.early_leave is True


# --- Closing -----------------------------------------------------------------


def test_closing_marks_every_unseen_student_absent_exactly_once(session, room, students):
    seen(students[0], at(9, 0), room)
    first = services.close_session(session=session, now=at(10))
    second = services.close_session(session=session, now=at(10, 5))
    assert (first.closed, first.absent) == (True, 2)
    assert (second.closed, second.absent) == (False, 0)
    assert AttendanceRecord.objects.count() == 3
    assert set(AttendanceRecord.objects.values_list("student_id", "status")) == {
        (students[0].pk, RecordStatus.PRESENT),
        (students[1].pk, RecordStatus.ABSENT),
        (students[2].pk, RecordStatus.ABSENT),
    }
    session.refresh_from_db()
    assert (session.status, session.closed_at) == (SessionStatus.CLOSED, at(10))


def test_closing_flags_students_last_seen_well_before_the_end(session, room, students):
    seen(students[0], at(9, 0), room)
    seen(students[0], at(9, 30), room)  # left 30 minutes early (policy: 15)
    seen(students[1], at(9, 0), room)
    seen(students[1], at(9, 50), room)
    result = services.close_session(session=session, now=at(10))
    assert result.early_leave == 1
    flags = dict(AttendanceRecord.objects.values_list("student_id", "early_leave"))
    assert flags[students[0].pk] is True
    assert flags[students[1].pk] is False


def test_low_camera_coverage_makes_unseen_students_unverified(session, room, students, coverage_providers):
    coverage_providers.provide({"test": lambda s: 0.3})
    seen(students[0], at(9, 0), room)
    result = services.close_session(session=session, now=at(10))
    assert (result.absent, result.unverified) == (0, 2)
    statuses = sorted(AttendanceRecord.objects.values_list("status", flat=True))
    assert statuses == [RecordStatus.PRESENT, RecordStatus.UNVERIFIED, RecordStatus.UNVERIFIED]
    session.refresh_from_db()
    assert session.camera_coverage == pytest.approx(0.3)
    assert "30%" in session.unverified_reason


def test_healthy_cameras_mean_absent(session, students, coverage_providers):
    coverage_providers.provide({"test": lambda s: 0.5})
    result = services.close_session(session=session, now=at(10))
    assert (result.absent, result.unverified) == (3, 0)
    session.refresh_from_db()
    assert session.unverified_reason == ""


def test_failing_coverage_provider_never_makes_anyone_absent(session, students, coverage_providers):
    def broken(s):
        raise RuntimeError("camera service down")

    coverage_providers.provide({"test": broken})
    result = services.close_session(session=session, now=at(10))
    assert result.unverified == 3
    assert not AttendanceRecord.objects.filter(status=RecordStatus.ABSENT).exists()


def test_policy_without_absence_leaves_unseen_students_without_a_record(session, students):
    AttendancePolicy.objects.create(course=session.section.course, absent_if_not_seen=False)
    services.close_session(session=session, now=at(10))
    assert not AttendanceRecord.objects.exists()


def test_cancelled_session_cannot_be_opened(session, teacher):
    services.cancel_session(session=session, by=teacher, reason="holiday")
    with pytest.raises(Conflict):
        services.open_session(session=session, by=teacher)


# --- People's marks ------------------------------------------------------------


def test_teacher_marks_a_student_and_the_change_is_logged(session, students, teacher):
    record = services.mark_manually(session=session, student=students[0], status=RecordStatus.PRESENT, by=teacher)
    assert (record.status, record.source, record.marked_by) == (RecordStatus.PRESENT, RecordSource.MANUAL, teacher)
    change = AttendanceChange.objects.get()
    assert (change.changed_by, change.from_status, change.to_status) == (teacher, "", RecordStatus.PRESENT)


def test_override_needs_a_reason_and_logs_from_and_to(session, room, students, teacher):
    seen(students[0], at(9, 30), room)
    with pytest.raises(InvalidInput):
        services.mark_manually(session=session, student=students[0], status=RecordStatus.PRESENT, by=teacher)
    services.mark_manually(
        session=session, student=students[0], status=RecordStatus.PRESENT, by=teacher, reason="bus strike"
    )
    change = AttendanceChange.objects.get()
    assert (change.from_status, change.to_status, change.reason) == (
        RecordStatus.LATE,
        RecordStatus.PRESENT,
        "bus strike",
    )
    assert AttendanceRecord.objects.get().status == RecordStatus.PRESENT


def test_override_needs_edit_attendance(session, room, students, teacher):
    seen(students[0], at(9, 30), room)
    teacher.groups.first().permissions.remove(*teacher.groups.first().permissions.filter(codename="edit_attendance"))
    teacher = type(teacher).objects.get(pk=teacher.pk)  # drop the cached permissions
    with pytest.raises(NotAllowed):
        services.mark_manually(
            session=session, student=students[0], status=RecordStatus.PRESENT, by=teacher, reason="x"
        )
    # Marking a student with no record yet is still allowed.
    services.mark_manually(session=session, student=students[1], status=RecordStatus.PRESENT, by=teacher)


def test_staff_who_do_not_teach_the_section_cannot_mark(session, students, make_user):
    other = make_user(role="staff")
    with pytest.raises(NotAllowed):
        services.mark_manually(session=session, student=students[0], status=RecordStatus.PRESENT, by=other)
    assert not AttendanceRecord.objects.exists()


def test_admin_marks_any_section(session, students, admin_user):
    record = services.mark_manually(session=session, student=students[0], status=RecordStatus.PRESENT, by=admin_user)
    assert record.marked_by == admin_user


def test_closed_session_older_than_the_window_is_admins_only(session, students, teacher, admin_user, settings):
    settings.ATTENDANCE_EDIT_WINDOW_DAYS = 14
    services.close_session(session=session, now=at(10) - dt.timedelta(days=20))
    with pytest.raises(NotAllowed):
        services.mark_manually(
            session=session, student=students[0], status=RecordStatus.EXCUSED, by=teacher, reason="late note"
        )
    record = services.mark_manually(
        session=session, student=students[0], status=RecordStatus.EXCUSED, by=admin_user, reason="late note"
    )
    assert record.status == RecordStatus.EXCUSED


def test_bulk_marking_is_all_or_nothing(session, students, outsider, teacher):
    marks = [{"student": students[0], "status": "present"}, {"student": outsider, "status": "present"}]
    with pytest.raises(InvalidInput):
        services.mark_bulk(session=session, marks=marks, by=teacher)
    assert not AttendanceRecord.objects.exists()
    records = services.mark_bulk(session=session, marks=marks[:1], by=teacher)
    assert [r.status for r in records] == ["present"]


def test_marking_the_same_status_again_logs_nothing(session, students, teacher):
    for _ in range(2):
        services.mark_manually(session=session, student=students[0], status=RecordStatus.PRESENT, by=teacher)
    assert AttendanceChange.objects.count() == 1


# --- Excuses -------------------------------------------------------------------


def test_approved_excuse_makes_the_record_excused(session, students, enrolled_student_user, teacher):
    services.close_session(session=session, now=at(10))
    excuse = services.file_excuse(student=students[0], session=session, reason="flu", by=enrolled_student_user)
    services.decide_excuse(excuse=excuse, approve=True, by=teacher, note="ok")
    record = AttendanceRecord.objects.get(student=students[0])
    assert (record.status, record.marked_by) == (RecordStatus.EXCUSED, teacher)
    change = record.changes.get()
    assert (change.from_status, change.to_status) == (RecordStatus.ABSENT, RecordStatus.EXCUSED)
    assert "flu" in change.reason


def test_refused_excuse_leaves_the_record(session, students, enrolled_student_user, teacher):
    services.close_session(session=session, now=at(10))
    excuse = services.file_excuse(student=students[0], session=session, reason="flu", by=enrolled_student_user)
    excuse = services.decide_excuse(excuse=excuse, approve=False, by=teacher)
    assert excuse.status == "refused"
    assert AttendanceRecord.objects.get(student=students[0]).status == RecordStatus.ABSENT
    with pytest.raises(Conflict):
        services.decide_excuse(excuse=excuse, approve=True, by=teacher)


def test_second_pending_excuse_for_the_same_session_is_a_conflict(session, students, enrolled_student_user):
    services.file_excuse(student=students[0], session=session, reason="flu", by=enrolled_student_user)
    with pytest.raises(Conflict):
        services.file_excuse(student=students[0], session=session, reason="flu again", by=enrolled_student_user)


def test_student_cannot_file_for_someone_else(session, students, enrolled_student_user):
    with pytest.raises(NotAllowed):
        services.file_excuse(student=students[1], session=session, reason="flu", by=enrolled_student_user)


def test_closing_skips_students_who_already_have_a_record(session, students):
    AttendanceRecordFactory(session=session, student=students[0])
    assert services.close_session(session=session, now=at(10)).absent == 2


def test_second_campus_default_policy_is_refused(db):
    from django.core.exceptions import ValidationError

    AttendancePolicy.objects.create(course=None)
    with pytest.raises(ValidationError):
        AttendancePolicy(course=None, late_after_minutes=3).full_clean()


def test_second_policy_for_one_course_is_refused(session):
    from django.core.exceptions import ValidationError

    AttendancePolicy.objects.create(course=session.section.course)
    with pytest.raises(ValidationError):
        AttendancePolicy(course=session.section.course).full_clean()
