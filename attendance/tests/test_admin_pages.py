"""The admin pages a teacher works in: marking a whole session and correcting one record."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from attendance.models import AttendanceChange, AttendanceRecord
from attendance.tests.factories import AttendanceRecordFactory, ClassSessionFactory
from campus.tests.factories import EnrolmentFactory, SectionFactory, StudentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lesson(make_user):
    teacher = make_user(role="staff", username="teacher.k")
    section = SectionFactory()
    section.teachers.set([teacher])
    students = [StudentFactory() for _ in range(3)]
    for student in students:
        EnrolmentFactory(section=section, student=student, enrolled_on=timezone.localdate() - dt.timedelta(days=10))
    now = timezone.now()
    hour = dt.timedelta(hours=1)
    session = ClassSessionFactory(section=section, date=timezone.localdate(), status="open",
                                  scheduled_start=now - hour, scheduled_end=now + hour)
    client = Client()
    client.force_login(teacher)
    return {"teacher": teacher, "session": session, "students": students, "client": client}


def test_marking_a_session_writes_only_the_changed_students_through_the_service(lesson):
    session, students = lesson["session"], lesson["students"]
    AttendanceRecordFactory(session=session, student=students[0], status="present")
    data = {f"student_{students[0].pk}": "present", f"student_{students[1].pk}": "late",
            f"student_{students[2].pk}": "", "reason": ""}
    response = lesson["client"].post(f"/admin/attendance/classsession/{session.pk}/mark/", data)
    assert response.status_code == 302
    statuses = dict(AttendanceRecord.objects.filter(session=session).values_list("student_id", "status"))
    assert statuses == {students[0].pk: "present", students[1].pk: "late"}
    assert AttendanceRecord.objects.get(session=session, student=students[1]).marked_by == lesson["teacher"]


def test_overriding_in_the_marking_page_needs_a_reason(lesson):
    session, students = lesson["session"], lesson["students"]
    AttendanceRecordFactory(session=session, student=students[0], status="absent")
    url = f"/admin/attendance/classsession/{session.pk}/mark/"
    page = lesson["client"].post(url, {f"student_{students[0].pk}": "present", "reason": ""})
    assert page.status_code == 200 and "reason" in page.content.decode().lower()
    assert AttendanceRecord.objects.get(session=session, student=students[0]).status == "absent"
    lesson["client"].post(url, {f"student_{students[0].pk}": "present", "reason": "was in the lab"})
    assert AttendanceChange.objects.get(record__student=students[0]).reason == "was in the lab"


def test_correcting_a_record_requires_a_reason_and_is_audited(lesson):
    record = AttendanceRecordFactory(session=lesson["session"], student=lesson["students"][1], status="absent")
    url = f"/admin/attendance/attendancerecord/{record.pk}/correct/"
    blank = lesson["client"].post(url, {"status": "present", "reason": "  "})
    assert blank.status_code == 200
    record.refresh_from_db()
    assert record.status == "absent"
    done = lesson["client"].post(url, {"status": "present", "reason": "seen at the door"})
    assert done.status_code == 302
    record.refresh_from_db()
    assert record.status == "present"
    assert AuditEvent.objects.filter(action="attendance.record_changed", target=f"attendance_record:{record.pk}")


def test_a_teacher_cannot_open_another_sections_pages(lesson, make_user):
    other = ClassSessionFactory(section=SectionFactory())
    record = AttendanceRecordFactory(session=other, student=StudentFactory())
    client = lesson["client"]
    assert client.get(f"/admin/attendance/classsession/{other.pk}/mark/").status_code == 404
    assert client.get(f"/admin/attendance/attendancerecord/{record.pk}/correct/").status_code == 404
    assert client.get(f"/admin/attendance/classsession/{other.pk}/change/").status_code == 302  # "not found" redirect


def test_staff_handle_a_complaint_in_the_admin(make_user):
    from campus.models import Complaint, ComplaintComment
    from campus.tests.factories import ComplaintFactory

    handler = make_user(role="staff", username="handler")
    complaint = ComplaintFactory()
    client = Client()
    client.force_login(handler)
    url = f"/admin/campus/complaint/{complaint.pk}/change/"
    form = client.get(url)
    assert form.status_code == 200
    data = {
        "priority": complaint.priority, "room": "", "assignee": handler.pk,
        "comments-TOTAL_FORMS": "1", "comments-INITIAL_FORMS": "0", "comments-MIN_NUM_FORMS": "0",
        "comments-MAX_NUM_FORMS": "1000", "comments-0-body": "A technician comes on Monday.",
        "_save": "Save",
    }
    saved = client.post(url, data)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    comment = ComplaintComment.objects.get(complaint=complaint)
    assert comment.author == handler and comment.body == "A technician comes on Monday."
    moved = client.post("/admin/campus/complaint/", {"action": "start_work", "_selected_action": [complaint.pk]})
    assert moved.status_code == 302
    assert Complaint.objects.get(pk=complaint.pk).status == "in_progress"
