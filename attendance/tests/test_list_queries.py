"""Query counts of the attendance lists: one page costs the same few queries however many rows there are.

Each count names its queries. The token's user comes with its permissions (the
user's own and its role group's) in one query (accounts.selectors.user_with_permissions).
"""

from __future__ import annotations

import datetime as dt

import pytest

from attendance.choices import RecordStatus
from attendance.models import ExcuseRequest
from attendance.tests.conftest import DAY, at
from attendance.tests.factories import AttendanceRecordFactory, ClassSessionFactory, EnrolmentFactory

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/attendance/sessions"
RECORDS = "/api/v1/attendance/records"
EXCUSES = "/api/v1/attendance/excuses"
ME = "/api/v1/attendance/me"


def add_sessions(n, section, room, start=0):
    return [
        ClassSessionFactory(
            section=section,
            room=room,
            date=DAY + dt.timedelta(days=start + i),
            scheduled_start=at(9, day=DAY + dt.timedelta(days=start + i)),
            scheduled_end=at(10, day=DAY + dt.timedelta(days=start + i)),
        )
        for i in range(n)
    ]


def add_records(sessions, students, marker):
    for session in sessions:
        for student in students:
            AttendanceRecordFactory(session=session, student=student, status=RecordStatus.ABSENT, marked_by=marker)


def get_before_and_after(client, path, add_rows, assert_num_queries, queries):
    """GETs `path`, calls `add_rows`, GETs it again; each GET must cost exactly `queries` queries."""
    with assert_num_queries(queries):
        before = client.get(path)
    add_rows()
    with assert_num_queries(queries):
        after = client.get(path)
    return before, after


def test_session_list_is_the_user_then_one_page(
    client_for, teacher, section, room, django_assert_num_queries
):
    client = client_for(teacher)
    add_sessions(2, section, room)
    # 1 the token's user with its permissions;
    # 2 one page of sessions joined with section, course, term and room (no COUNT, no record counts)
    small, big = get_before_and_after(
        client, SESSIONS, lambda: add_sessions(30, section, room, start=2), django_assert_num_queries, queries=2
    )
    assert (len(small.json()["results"]), len(big.json()["results"])) == (2, 32)


def test_record_list_reads_the_page_then_its_relations_by_id(
    client_for, teacher, section, room, students, django_assert_num_queries
):
    client = client_for(teacher)
    add_records(add_sessions(1, section, room), students[:1], teacher)
    # 1 the token's user with its permissions; 2 one page of records joined with their students;
    # 3 their sessions with section, course and room; 4 the users who marked them
    small, big = get_before_and_after(
        client, RECORDS, lambda: add_records(add_sessions(5, section, room, start=1), students, teacher),
        django_assert_num_queries, queries=4,
    )
    assert (len(small.json()["results"]), len(big.json()["results"])) == (1, 16)
    row = big.json()["results"][0]
    assert row["marked_by"] == "teacher"
    assert set(row["session"]) == {"id", "date", "section_id", "section", "room", "scheduled_start"}


def test_record_list_without_markers_skips_their_query(
    client_for, teacher, section, room, students, django_assert_num_queries
):
    client = client_for(teacher)
    add_records(add_sessions(3, section, room), students, None)
    # 1 the token's user with its permissions; 2 the page with its students; 3 sessions (no marker to read)
    with django_assert_num_queries(3):
        response = client.get(RECORDS, {"section": section.pk})
    assert len(response.json()["results"]) == 9


def test_own_records_for_a_student_cost_the_same(
    client_for, enrolled_student_user, section, room, students, django_assert_num_queries
):
    client = client_for(enrolled_student_user)
    add_records(add_sessions(2, section, room), students, None)
    # 1 the token's user with its permissions; 2 the page of that student's records with the student
    # (visible_to finds the student linked to the user in a subquery); 3 sessions
    small, big = get_before_and_after(
        client, RECORDS, lambda: add_records(add_sessions(6, section, room, start=2), students, None),
        django_assert_num_queries, queries=3,
    )
    assert (len(small.json()["results"]), len(big.json()["results"])) == (2, 8)


def test_excuse_list_query_count_does_not_grow(client_for, teacher, section, room, students, django_assert_num_queries):
    client = client_for(teacher)

    def file(sessions):
        for session in sessions:
            ExcuseRequest.objects.create(student=students[0], session=session, reason="ill", filed_by=teacher)

    file(add_sessions(1, section, room))
    # 1 the token's user with its permissions; 2 COUNT (excuses are few); 3 one page with
    # student, session, filer and decider joined
    _, response = get_before_and_after(
        client, EXCUSES, lambda: file(add_sessions(6, section, room, start=1)), django_assert_num_queries, queries=3
    )
    assert response.json()["count"] == 7


def test_own_attendance_query_count_does_not_grow(
    client_for, enrolled_student_user, section, room, students, django_assert_num_queries
):
    client = client_for(enrolled_student_user)
    add_records(add_sessions(2, section, room), students[:1], None)
    # 1 the token's user with its permissions; 2 the linked student; 3 the sections they were
    # enrolled in (the cache key: attendance.report_cache; the new enrolment below makes it a miss);
    # 4 counts per section (the overall counts are their sum); 5 the latest records with the student;
    # 6 their sessions

    def add_records_in_another_section():
        other = EnrolmentFactory(student=students[0]).section
        add_records(add_sessions(5, other, room, start=2), students[:1], None)

    _, response = get_before_and_after(client, ME, add_records_in_another_section, django_assert_num_queries, queries=6)
    body = response.json()
    assert (body["overall"]["total"], len(body["sections"]), len(body["latest"])) == (7, 2, 7)


@pytest.mark.parametrize("filled", [True, False])
def test_record_representation_is_what_the_declared_fields_give(section, room, students, teacher, filled):
    from rest_framework import serializers as drf

    from attendance.api.serializers import RecordSerializer, record_rows_data
    from attendance.models import AttendanceRecord
    from attendance.selectors import record_list, record_relations, record_rows

    [session] = add_sessions(1, section, room)
    record = AttendanceRecordFactory(
        session=session, student=students[0], marked_by=teacher if filled else None,
        confidence=0.4123 if filled else None, first_seen_at=at(9, 3) if filled else None,
        last_seen_at=at(9, 50) if filled else None, note="late bus" if filled else "", early_leave=filled,
        needs_review=filled,
    )
    record = record_list().get(pk=record.pk)
    fast = RecordSerializer(record).data
    generic = drf.ModelSerializer.to_representation(RecordSerializer(), record)
    assert list(fast.items()) == list(generic.items())
    # And a listed row (plain rows, as the lists read them) is shown the same.
    rows = list(record_rows(AttendanceRecord.objects.filter(pk=record.pk)))
    [listed] = record_rows_data(rows, record_relations(rows))
    assert list(listed.items()) == list(fast.items())


def test_csv_export_reads_in_blocks_and_keeps_session_then_student_order(
    client_for, teacher, section, room, students, monkeypatch
):
    import csv
    import io

    from attendance import selectors

    # Blocks of two rows: each three-student session takes two keyset reads (by student id).
    monkeypatch.setattr(selectors, "EXPORT_BLOCK_ROWS", 2)
    sessions = add_sessions(3, section, room)
    add_records(sessions, students, None)
    params = {"date_from": DAY.isoformat(), "date_to": (DAY + dt.timedelta(days=5)).isoformat()}
    response = client_for(teacher).get("/api/v1/attendance/reports/export", params)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_id = sorted(students, key=lambda s: s.pk)
    assert [(r["date"], r["student_number"]) for r in rows] == [
        (session.date.isoformat(), student.student_number) for session in sessions for student in by_id
    ]


@pytest.mark.parametrize("filled", [True, False])
def test_a_listed_session_is_shown_as_the_list_serializer_shows_it(section, room, filled):
    from django.utils import timezone

    from attendance.api.serializers import ClassSessionListSerializer, session_rows_data
    from attendance.models import ClassSession
    from attendance.selectors import session_list, session_rows

    [session] = add_sessions(1, section, room)
    if filled:
        session.opened_at, session.closed_at = at(9, 1), timezone.now()
        session.camera_coverage, session.unverified_reason = 0.75, "camera offline"
        session.save()
    [listed] = session_rows_data(list(session_rows(ClassSession.objects.filter(pk=session.pk))))
    assert listed == ClassSessionListSerializer(session_list().get(pk=session.pk)).data
