import csv
import datetime as dt
import io

import pytest

from attendance import services
from attendance.choices import RecordSource, RecordStatus, SessionStatus
from attendance.models import AttendanceChange, AttendanceRecord, ExcuseRequest
from attendance.tests.conftest import DAY, at
from attendance.tests.factories import (
    AttendanceRecordFactory,
    ClassSessionFactory,
)
from campus.tests.factories import ComplaintFactory
from config.status import sources as status_source_point

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/attendance/sessions"
RECORDS = "/api/v1/attendance/records"


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def status_sources():
    with status_source_point.replaced({}) as point:
        yield point


def make_sessions(n, section, room):
    return [
        ClassSessionFactory(
            section=section,
            room=room,
            date=DAY + dt.timedelta(days=i),
            scheduled_start=at(9, day=DAY + dt.timedelta(days=i)),
            scheduled_end=at(10, day=DAY + dt.timedelta(days=i)),
        )
        for i in range(n)
    ]


# --- Sessions ----------------------------------------------------------------


def test_staff_list_sessions_and_read_one_with_its_counts(client_for, teacher, session, students):
    AttendanceRecordFactory(session=session, student=students[0], status=RecordStatus.LATE)
    client = client_for(teacher)
    response = client.get(SESSIONS)
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["id"] == session.pk
    assert row["room"]["code"] == session.room.code
    # The list leaves the per-status counts out (a scan of every record on the page); the session has them.
    assert "counts" not in row
    counts = client.get(f"{SESSIONS}/{session.pk}").json()["counts"]
    assert (counts["late"], counts["present"]) == (1, 0)


def test_session_list_pages_by_cursor_latest_first(client_for, teacher, section, room):
    sessions = make_sessions(5, section, room)
    client = client_for(teacher)
    first = client.get(SESSIONS, {"page_size": 2}).json()
    assert "count" not in first and first["previous"] is None
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    seen = [row["id"] for page in (first, second, third) for row in page["results"]]
    assert seen == [s.pk for s in reversed(sessions)]
    assert third["next"] is None


def test_student_sees_only_sessions_of_their_sections(client_for, enrolled_student_user, session, room):
    ClassSessionFactory(room=room)  # another section
    response = client_for(enrolled_student_user).get(SESSIONS)
    assert [row["id"] for row in response.json()["results"]] == [session.pk]


def test_guest_cannot_list_sessions(client_for, guest_user, session):
    assert_error(client_for(guest_user).get(SESSIONS), 403, "permission_denied")


def test_anonymous_gets_401_in_the_error_format(api_client, session):
    assert_error(api_client.get(SESSIONS), 401, "not_authenticated")


def test_sessions_filter_by_section_room_dates_and_status(client_for, teacher, section, room, students):
    sessions = make_sessions(3, section, room)
    sessions[2].status = SessionStatus.CLOSED
    sessions[2].save()
    ClassSessionFactory(date=DAY)  # other section and room
    client = client_for(teacher)

    def ids(**params):
        return sorted(row["id"] for row in client.get(SESSIONS, params).json()["results"])

    assert ids(section=section.pk) == sorted(s.pk for s in sessions)
    assert ids(room=room.pk, date_from=(DAY + dt.timedelta(days=1)).isoformat()) == [sessions[1].pk, sessions[2].pk]
    assert ids(section=section.pk, date_to=DAY.isoformat()) == [sessions[0].pk]
    assert ids(section=section.pk, status="closed") == [sessions[2].pk]


def test_bad_session_filter_is_a_400_in_the_error_format(client_for, teacher, session):
    error = assert_error(client_for(teacher).get(SESSIONS, {"date_from": "yesterday"}), 400, "invalid")
    assert "date_from" in error["details"]


def test_teacher_opens_and_closes_a_session(client_for, teacher, session, students):
    session.status = SessionStatus.SCHEDULED
    session.save()
    client = client_for(teacher)
    assert client.post(f"{SESSIONS}/{session.pk}/open").json()["status"] == "open"
    body = client.post(f"{SESSIONS}/{session.pk}/close").json()
    assert body["status"] == "closed"
    assert body["counts"]["absent"] == 3


def test_closing_a_closed_session_twice_changes_nothing(client_for, teacher, session, students):
    client = client_for(teacher)
    client.post(f"{SESSIONS}/{session.pk}/close")
    client.post(f"{SESSIONS}/{session.pk}/close")
    assert AttendanceRecord.objects.count() == 3


def test_opening_a_closed_session_is_a_conflict(client_for, teacher, session):
    client = client_for(teacher)
    client.post(f"{SESSIONS}/{session.pk}/close")
    assert_error(client.post(f"{SESSIONS}/{session.pk}/open"), 409, "invalid_transition")


# --- Marking -------------------------------------------------------------------


def test_teacher_marks_a_student(client_for, teacher, session, students):
    response = client_for(teacher).post(
        f"{SESSIONS}/{session.pk}/marks", {"student": students[0].pk, "status": "present", "note": "front row"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["source"], body["marked_by"], body["note"]) == (
        "present",
        "manual",
        "teacher",
        "front row",
    )
    record = AttendanceRecord.objects.get()
    assert (record.student, record.status, record.marked_by) == (students[0], "present", teacher)


def test_student_cannot_mark(client_for, enrolled_student_user, session, students):
    response = client_for(enrolled_student_user).post(
        f"{SESSIONS}/{session.pk}/marks", {"student": students[0].pk, "status": "present"}
    )
    assert response.status_code in (403, 404)
    assert "error" in response.json()
    assert not AttendanceRecord.objects.exists()


def test_staff_not_teaching_the_section_cannot_mark(client_for, make_user, session, students):
    response = client_for(make_user(role="staff")).post(
        f"{SESSIONS}/{session.pk}/marks", {"student": students[0].pk, "status": "present"}
    )
    # Outside the sections they teach a session is not even visible to them.
    assert_error(response, 404, "not_found")
    assert not AttendanceRecord.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"student": None, "status": "present"}, "student"),
        ({"student": 999999, "status": "present"}, "student"),
        ({"status": "unverified"}, "status"),
        ({"status": "here"}, "status"),
    ],
)
def test_bad_mark_is_a_400_and_changes_nothing(client_for, teacher, session, students, payload, field):
    payload = {k: v for k, v in {"student": students[0].pk, **payload}.items() if v is not None}
    error = assert_error(client_for(teacher).post(f"{SESSIONS}/{session.pk}/marks", payload), 400, "invalid")
    assert field in error["details"]
    assert not AttendanceRecord.objects.exists()


def test_override_without_reason_is_refused_and_with_reason_logged(client_for, teacher, session, room, students):
    services.mark_seen(student=students[0], at=at(9, 30), source=RecordSource.FACE, room=room)
    client = client_for(teacher)
    url = f"{SESSIONS}/{session.pk}/marks"
    error = assert_error(client.post(url, {"student": students[0].pk, "status": "present"}), 400, "invalid")
    assert "reason" in error["details"]
    assert AttendanceRecord.objects.get().status == RecordStatus.LATE
    response = client.post(url, {"student": students[0].pk, "status": "present", "reason": "clock skew"})
    assert response.json()["status"] == "present"
    change = AttendanceChange.objects.get()
    assert (change.changed_by, change.from_status, change.to_status, change.reason) == (
        teacher,
        "late",
        "present",
        "clock skew",
    )


def test_marking_a_student_not_enrolled_is_a_400(client_for, teacher, session, outsider):
    response = client_for(teacher).post(f"{SESSIONS}/{session.pk}/marks", {"student": outsider.pk, "status": "present"})
    assert_error(response, 400, "not_enrolled")


def test_bulk_marks(client_for, teacher, session, students):
    marks = [
        {"student": s.pk, "status": status} for s, status in zip(students, ["present", "late", "absent"], strict=True)
    ]
    response = client_for(teacher).post(f"{SESSIONS}/{session.pk}/bulk-marks", {"marks": marks}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 3
    assert dict(AttendanceRecord.objects.values_list("student_id", "status")) == {
        students[0].pk: "present",
        students[1].pk: "late",
        students[2].pk: "absent",
    }


def test_bulk_marks_with_a_bad_row_change_nothing(client_for, teacher, session, students, outsider):
    marks = [{"student": students[0].pk, "status": "present"}, {"student": outsider.pk, "status": "present"}]
    response = client_for(teacher).post(f"{SESSIONS}/{session.pk}/bulk-marks", {"marks": marks}, format="json")
    assert_error(response, 400, "not_enrolled")
    assert not AttendanceRecord.objects.exists()


def test_bulk_marks_empty_is_a_400(client_for, teacher, session):
    error = assert_error(client_for(teacher).post(f"{SESSIONS}/{session.pk}/bulk-marks", {"marks": []}), 400, "invalid")
    assert "marks" in error["details"]


# --- Records -------------------------------------------------------------------


def test_records_list_is_cursor_paginated(client_for, teacher, session, students):
    for student in students:
        AttendanceRecordFactory(session=session, student=student)
    client = client_for(teacher)
    first = client.get(RECORDS, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert "count" not in first
    second = client.get(first["next"]).json()
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert sorted(ids) == sorted(AttendanceRecord.objects.values_list("pk", flat=True))


def test_records_held_for_review_are_listed_with_the_flag(client_for, teacher, session, students, room):
    from attendance.services import hold_for_review

    AttendanceRecordFactory(session=session, student=students[0], status=RecordStatus.PRESENT)
    hold_for_review(student=students[1], at=session.scheduled_start, room=room, reason="Seen in two rooms.")
    body = client_for(teacher).get(RECORDS, {"needs_review": "true"}).json()
    assert [(row["student"]["id"], row["status"], row["needs_review"]) for row in body["results"]] == [
        (students[1].pk, "unverified", True)
    ]


def test_records_filters(client_for, teacher, session, students, room):
    AttendanceRecordFactory(session=session, student=students[0], status=RecordStatus.PRESENT)
    AttendanceRecordFactory(
        session=session, student=students[1], status=RecordStatus.ABSENT, source=RecordSource.SYSTEM
    )
    other = AttendanceRecordFactory()  # another section and course
    client = client_for(teacher)

    def ids(**params):
        return sorted(row["id"] for row in client.get(RECORDS, params).json()["results"])

    mine = sorted(AttendanceRecord.objects.filter(session=session).values_list("pk", flat=True))
    assert ids(section=session.section_id) == mine
    assert ids(course=session.section.course_id) == mine
    assert ids(status="absent", section=session.section_id) == [mine[1]]
    assert ids(source="face", section=session.section_id) == [mine[0]]
    assert ids(student=students[0].pk) == [mine[0]]
    assert ids(date_from=DAY.isoformat(), date_to=DAY.isoformat(), section=session.section_id) == mine
    assert other.pk not in ids(section=session.section_id)


def test_student_sees_only_their_own_records(client_for, enrolled_student_user, session, students):
    for student in students:
        AttendanceRecordFactory(session=session, student=student)
    rows = client_for(enrolled_student_user).get(RECORDS).json()["results"]
    assert [row["student"]["id"] for row in rows] == [students[0].pk]
    other = AttendanceRecord.objects.get(student=students[1])
    assert_error(client_for(enrolled_student_user).get(f"{RECORDS}/{other.pk}"), 404, "not_found")


def test_record_detail_shows_the_change_log(client_for, teacher, session, students):
    services.mark_manually(session=session, student=students[0], status="absent", by=teacher)
    services.mark_manually(session=session, student=students[0], status="excused", by=teacher, reason="doctor")
    record = AttendanceRecord.objects.get()
    body = client_for(teacher).get(f"{RECORDS}/{record.pk}").json()
    assert [(c["from_status"], c["to_status"], c["changed_by"]) for c in body["changes"]] == [
        ("absent", "excused", "teacher"),
        ("", "absent", "teacher"),
    ]


# --- Me ---------------------------------------------------------------------------


def test_me_reports_the_students_own_rate(client_for, enrolled_student_user, section, room, students):
    sessions = make_sessions(4, section, room)
    for s, status in zip(sessions, ["present", "late", "absent", "excused"], strict=True):
        AttendanceRecordFactory(session=s, student=students[0], status=status)
        AttendanceRecordFactory(session=s, student=students[1], status="absent")
    body = client_for(enrolled_student_user).get("/api/v1/attendance/me").json()
    assert body["student"]["id"] == students[0].pk
    assert body["overall"]["present"] == 1
    assert body["overall"]["excused"] == 1
    assert body["overall"]["rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert len(body["latest"]) == 4
    assert {row["student"]["id"] for row in body["latest"]} == {students[0].pk}


def test_me_without_a_student_record_is_404(client_for, student_user):
    assert_error(client_for(student_user).get("/api/v1/attendance/me"), 404, "no_student_profile")


# --- Excuses -------------------------------------------------------------------


def test_excuse_request_flow(client_for, enrolled_student_user, teacher, session, students):
    services.close_session(session=session, now=at(10))
    response = client_for(enrolled_student_user).post(
        "/api/v1/attendance/excuses", {"session": session.pk, "reason": "fever"}
    )
    assert response.status_code == 201, response.content
    excuse = response.json()
    assert (excuse["status"], excuse["student"]["id"]) == ("pending", students[0].pk)

    assert_error(
        client_for(enrolled_student_user).post(f"/api/v1/attendance/excuses/{excuse['id']}/approve"),
        403,
        "permission_denied",
    )
    approved = client_for(teacher).post(f"/api/v1/attendance/excuses/{excuse['id']}/approve", {"note": "ok"}).json()
    assert (approved["status"], approved["decided_by"]) == ("approved", "teacher")
    assert AttendanceRecord.objects.get(student=students[0]).status == RecordStatus.EXCUSED
    again = client_for(teacher).post(f"/api/v1/attendance/excuses/{excuse['id']}/refuse")
    assert_error(again, 409, "excuse_decided")


def test_excuse_without_reason_is_a_400(client_for, enrolled_student_user, session):
    error = assert_error(
        client_for(enrolled_student_user).post("/api/v1/attendance/excuses", {"session": session.pk}), 400, "invalid"
    )
    assert "reason" in error["details"]
    assert not ExcuseRequest.objects.exists()


def test_student_sees_only_their_own_excuses(client_for, enrolled_student_user, teacher, session, students):
    services.file_excuse(student=students[1], session=session, reason="x", by=teacher)
    services.file_excuse(student=students[0], session=session, reason="y", by=enrolled_student_user)
    rows = client_for(enrolled_student_user).get("/api/v1/attendance/excuses").json()["results"]
    assert [row["reason"] for row in rows] == ["y"]


# --- Reports and export ----------------------------------------------------------


@pytest.fixture
def history(section, room, students):
    """Four sessions. Student 0: always present; 1: present twice, then absent; 2: late, excused, absent, absent."""
    sessions = make_sessions(4, section, room)
    plan = {
        0: ["present"] * 4,
        1: ["present", "present", "absent", "absent"],
        2: ["late", "excused", "absent", "absent"],
    }
    for i, statuses in plan.items():
        for s, status in zip(sessions, statuses, strict=True):
            AttendanceRecordFactory(session=s, student=students[i], status=status)
    return sessions


def test_section_report_matches_the_records(client_for, teacher, section, students, history):
    body = client_for(teacher).get(f"/api/v1/attendance/reports/sections/{section.pk}").json()
    assert body["sessions"] == 4
    assert (body["overall"]["present"], body["overall"]["late"], body["overall"]["absent"]) == (6, 1, 4)
    assert body["overall"]["rate"] == pytest.approx(7 / 11, abs=1e-4)
    rates = {row["student_id"]: row["rate"] for row in body["students"]}
    assert rates == {students[0].pk: 1.0, students[1].pk: 0.5, students[2].pk: pytest.approx(1 / 3, abs=1e-4)}


def test_section_report_over_a_range(client_for, teacher, section, students, history):
    params = {"date_from": DAY.isoformat(), "date_to": (DAY + dt.timedelta(days=1)).isoformat()}
    body = client_for(teacher).get(f"/api/v1/attendance/reports/sections/{section.pk}", params).json()
    assert body["sessions"] == 2
    assert body["overall"]["absent"] == 0


def test_student_report_over_a_range(client_for, admin_user, students, history):
    params = {
        "date_from": (DAY + dt.timedelta(days=2)).isoformat(),
        "date_to": (DAY + dt.timedelta(days=3)).isoformat(),
    }
    body = client_for(admin_user).get(f"/api/v1/attendance/reports/students/{students[1].pk}", params).json()
    assert (body["overall"]["absent"], body["overall"]["rate"]) == (2, 0.0)
    assert [row["section_id"] for row in body["sections"]] == [history[0].section_id]


def test_course_report_has_a_row_per_section(client_for, teacher, section, students, history):
    body = client_for(teacher).get(f"/api/v1/attendance/reports/courses/{section.course_id}").json()
    assert [row["section_id"] for row in body["sections"]] == [section.pk]
    assert body["overall"]["total"] == 12


def test_report_range_backwards_is_a_400(client_for, teacher, section):
    params = {"date_from": "2026-11-20", "date_to": "2026-11-01"}
    error = assert_error(
        client_for(teacher).get(f"/api/v1/attendance/reports/sections/{section.pk}", params), 400, "invalid"
    )
    assert "date_to" in error["details"]


def test_student_cannot_read_reports(client_for, enrolled_student_user, section):
    assert_error(
        client_for(enrolled_student_user).get(f"/api/v1/attendance/reports/sections/{section.pk}"),
        403,
        "permission_denied",
    )


def test_csv_export_streams_one_row_per_record(client_for, teacher, section, students, history):
    AttendanceRecordFactory()  # outside the section filter
    params = {"date_from": DAY.isoformat(), "date_to": (DAY + dt.timedelta(days=10)).isoformat(), "section": section.pk}
    response = client_for(teacher).get("/api/v1/attendance/reports/export", params)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    expected = AttendanceRecord.objects.filter(session__section=section)
    assert len(rows) == expected.count() == 12
    got = sorted((r["date"], r["student_number"], r["status"]) for r in rows)
    want = sorted(
        (r.session.date.isoformat(), r.student.student_number, r.status)
        for r in expected.select_related("session", "student")
    )
    assert got == want


def test_csv_export_needs_a_range(client_for, teacher):
    error = assert_error(client_for(teacher).get("/api/v1/attendance/reports/export"), 400, "invalid")
    assert set(error["details"]) == {"date_from", "date_to"}


# --- Dashboard and trends ----------------------------------------------------------


def test_dashboard_summary(client_for, teacher, session, room, students, status_sources, time_machine):
    time_machine.move_to(at(9, 30), tick=False)
    status_sources.provide({"cameras": lambda: {"online": 3, "total": 4}})
    ComplaintFactory()
    services.mark_seen(student=students[0], at=at(9, 1), source=RecordSource.FACE, room=room)
    services.mark_seen(student=students[1], at=at(9, 20), source=RecordSource.FACE, room=room)
    services.hold_for_review(student=students[2], at=at(9, 25), room=room, reason="Seen in two rooms.")
    body = client_for(teacher).get("/api/v1/dashboard/summary").json()
    assert body["date"] == DAY.isoformat()
    assert body["sessions"]["total"] == 1
    assert (body["counts"]["present"], body["counts"]["late"]) == (1, 1)
    assert body["rate"] == 1.0
    assert body["status_sources"] == {"cameras": {"online": 3, "total": 4}}
    assert body["open_complaints"] == 1
    assert body["held_for_review"] == 1 and body["counts"]["unverified"] == 1
    assert body["today"][0]["id"] == session.pk


def test_dashboard_summary_is_cached_and_dropped_when_attendance_changes(
    client_for, admin_user, session, students, time_machine, django_capture_on_commit_callbacks
):
    # The campus-wide summary is the cached one; a teacher's own is built each time.
    time_machine.move_to(at(9, 30), tick=False)
    client = client_for(admin_user)
    assert client.get("/api/v1/dashboard/summary").json()["counts"]["present"] == 0
    # A write that bypasses the services is not seen: the summary is cached.
    AttendanceRecordFactory(session=session, student=students[2])
    assert client.get("/api/v1/dashboard/summary").json()["counts"]["present"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{SESSIONS}/{session.pk}/marks", {"student": students[0].pk, "status": "present"})
    assert client.get("/api/v1/dashboard/summary").json()["counts"]["present"] == 2


def test_broken_status_source_does_not_break_the_dashboard(client_for, teacher, status_sources):
    def broken():
        raise ConnectionError("down")

    status_sources.provide({"devices": broken})
    body = client_for(teacher).get("/api/v1/dashboard/summary").json()
    assert body["status_sources"] == {"devices": {"error": "ConnectionError"}}


def test_student_cannot_read_the_dashboard(client_for, enrolled_student_user):
    assert_error(client_for(enrolled_student_user).get("/api/v1/dashboard/summary"), 403, "permission_denied")


def test_trends_daily_weekday_and_students_below(client_for, teacher, section, students, history):
    params = {
        "section": section.pk,
        "date_from": DAY.isoformat(),
        "date_to": (DAY + dt.timedelta(days=3)).isoformat(),
        "threshold": 0.6,
    }
    body = client_for(teacher).get("/api/v1/analytics/trends", params).json()
    assert body["scope"] == {"kind": "section", "id": section.pk}
    assert [(row["date"], row["rate"]) for row in body["daily"]] == [
        (DAY.isoformat(), 1.0),
        ((DAY + dt.timedelta(days=1)).isoformat(), 1.0),
        ((DAY + dt.timedelta(days=2)).isoformat(), pytest.approx(1 / 3, abs=1e-4)),
        ((DAY + dt.timedelta(days=3)).isoformat(), pytest.approx(1 / 3, abs=1e-4)),
    ]
    assert [row["weekday"] for row in body["weekday"]] == ["Monday", "Tuesday", "Wednesday", "Thursday"]
    assert [(row["student_id"], row["rate"]) for row in body["students_below"]] == [
        (students[2].pk, pytest.approx(1 / 3, abs=1e-4)),
        (students[1].pk, 0.5),
    ]


def test_trends_with_section_and_course_is_a_400(client_for, teacher, section):
    params = {"section": section.pk, "course": section.course_id}
    assert_error(client_for(teacher).get("/api/v1/analytics/trends", params), 400, "invalid")


def test_trends_threshold_out_of_range_is_a_400(client_for, teacher):
    error = assert_error(client_for(teacher).get("/api/v1/analytics/trends", {"threshold": 3}), 400, "invalid")
    assert "threshold" in error["details"]
