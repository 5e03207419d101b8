"""Section reports, and a student's own report, come from the cache until the sections' attendance changes."""

from __future__ import annotations

import pytest

from attendance import services
from attendance.choices import RecordStatus
from attendance.tests.factories import AttendanceRecordFactory, EnrolmentFactory, student_user

from .test_api import make_sessions

pytestmark = pytest.mark.django_db


def report_url(section) -> str:
    return f"/api/v1/attendance/reports/sections/{section.pk}"


@pytest.fixture
def records(section, room, students):
    sessions = make_sessions(2, section, room)
    for session in sessions:
        for student in students:
            AttendanceRecordFactory(session=session, student=student, status=RecordStatus.PRESENT)
    return sessions


def test_a_repeated_report_reads_no_records(client_for, teacher, section, records, django_assert_num_queries):
    client = client_for(teacher)
    first = client.get(report_url(section)).json()
    # 1 the token's user with its permissions; 2 the section (visible_to, with its course);
    # 3 does the teacher teach it (then the whole section is theirs to see); the report: from the cache
    with django_assert_num_queries(3):
        again = client.get(report_url(section)).json()
    assert again == first
    assert first["overall"]["present"] == 6


def test_a_mark_through_the_services_is_in_the_next_report(
    client_for, teacher, admin_user, section, students, records, django_capture_on_commit_callbacks
):
    client = client_for(teacher)
    assert client.get(report_url(section)).json()["overall"]["absent"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_manually(session=records[0], student=students[0], status=RecordStatus.ABSENT, by=admin_user,
                               reason="left before the register")
    body = client.get(report_url(section)).json()
    assert (body["overall"]["present"], body["overall"]["absent"]) == (5, 1)


def test_a_cancelled_session_leaves_the_next_report(
    client_for, teacher, admin_user, section, records, django_capture_on_commit_callbacks
):
    client = client_for(teacher)
    assert client.get(report_url(section)).json()["sessions"] == 2
    records[1].status = "scheduled"
    records[1].save(update_fields=["status"])
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_session(session=records[1], by=admin_user, reason="strike")
    body = client.get(report_url(section)).json()
    assert (body["sessions"], body["overall"]["total"]) == (1, 3)


def test_someone_who_sees_part_of_the_section_never_gets_the_shared_report(
    client_for, teacher, make_user, section, records
):
    assert client_for(teacher).get(report_url(section)).json()["overall"]["total"] == 6  # cached now
    # Another member of staff sees the section (view_campus) but none of its records (not their class).
    other = client_for(make_user(role="staff")).get(report_url(section))
    assert other.status_code == 200
    assert (other.json()["overall"]["total"], other.json()["students"]) == (0, [])


def test_a_lost_version_key_never_brings_back_an_old_report(client_for, teacher, section, students, records):
    from django.core.cache import cache

    from attendance.report_cache import VERSION_KEY

    client = client_for(teacher)
    assert client.get(report_url(section)).json()["overall"]["absent"] == 0
    # A change the services did not announce, and the version key evicted: a new version, a fresh report.
    records[0].records.filter(student=students[0]).update(status=RecordStatus.ABSENT)
    cache.delete(VERSION_KEY.format(section.pk))
    assert client.get(report_url(section)).json()["overall"]["absent"] == 1


def test_with_the_cache_off_every_report_is_computed(client_for, teacher, section, students, records, settings):
    settings.ATTENDANCE_REPORT_CACHE_SECONDS = 0
    client = client_for(teacher)
    assert client.get(report_url(section)).json()["overall"]["absent"] == 0
    records[0].records.filter(student=students[0]).update(status=RecordStatus.ABSENT)
    assert client.get(report_url(section)).json()["overall"]["absent"] == 1


def test_with_redis_down_the_report_is_computed(client_for, teacher, section, records, redis_down):
    response = client_for(teacher).get(report_url(section))
    assert response.status_code == 200
    assert response.json()["overall"]["present"] == 6


def test_the_report_is_cached_as_the_json_sent_and_an_older_entry_is_a_miss(client_for, teacher, section, records):
    from django.core.cache import cache

    client = client_for(teacher)
    first = client.get(report_url(section))
    assert first["Content-Type"] == "application/json"
    [key] = list(cache.keys("attendance:report:section:*"))
    assert cache.get(key) == first.content
    cache.set(key, {"overall": "a dict an older release cached"}, 60)
    assert client.get(report_url(section)).json() == first.json()
    assert cache.get(key) == first.content


# --- A student's own report ---------------------------------------------------------

ME = "/api/v1/attendance/me"


def test_a_repeated_own_report_reads_no_records(client_for, enrolled_student_user, records, django_assert_num_queries):
    client = client_for(enrolled_student_user)
    first = client.get(ME)
    assert first["Content-Type"] == "application/json"
    # 1 the token's user with its permissions; 2 the linked student; 3 the sections they were
    # enrolled in (the key); the report and its latest records: from the cache
    with django_assert_num_queries(3):
        again = client.get(ME)
    assert again.content == first.content
    assert (first.json()["overall"]["present"], len(first.json()["latest"])) == (2, 2)


def test_a_mark_through_the_services_is_in_the_next_own_report(
    client_for, enrolled_student_user, admin_user, students, records, django_capture_on_commit_callbacks
):
    client = client_for(enrolled_student_user)
    assert client.get(ME).json()["overall"]["absent"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_manually(session=records[0], student=students[0], status=RecordStatus.ABSENT, by=admin_user,
                               reason="left before the register")
    body = client.get(ME).json()
    assert (body["overall"]["present"], body["overall"]["absent"]) == (1, 1)
    assert sorted(row["status"] for row in body["latest"]) == ["absent", "present"]


def test_a_new_enrolment_is_a_new_own_report(client_for, enrolled_student_user, students, room, records):
    client = client_for(enrolled_student_user)
    assert len(client.get(ME).json()["sections"]) == 1
    other = EnrolmentFactory(student=students[0]).section
    [session] = make_sessions(1, other, room)
    AttendanceRecordFactory(session=session, student=students[0], status=RecordStatus.LATE)
    body = client.get(ME).json()
    assert (len(body["sections"]), body["overall"]["late"]) == (2, 1)


def test_another_students_report_is_never_shared(client_for, enrolled_student_user, students, records):
    mine = client_for(enrolled_student_user).get(ME).json()
    theirs = client_for(student_user(students[1], username="classmate")).get(ME).json()
    assert (mine["student"]["id"], theirs["student"]["id"]) == (students[0].pk, students[1].pk)


def test_a_lost_version_key_never_brings_back_an_old_own_report(client_for, enrolled_student_user, section, students,
                                                                records):
    from django.core.cache import cache

    from attendance.report_cache import VERSION_KEY

    client = client_for(enrolled_student_user)
    assert client.get(ME).json()["overall"]["absent"] == 0
    records[0].records.filter(student=students[0]).update(status=RecordStatus.ABSENT)
    cache.delete(VERSION_KEY.format(section.pk))
    assert client.get(ME).json()["overall"]["absent"] == 1


def test_with_the_cache_off_every_own_report_is_computed(client_for, enrolled_student_user, students, records,
                                                        settings):
    settings.ATTENDANCE_REPORT_CACHE_SECONDS = 0
    client = client_for(enrolled_student_user)
    assert client.get(ME).json()["overall"]["absent"] == 0
    records[0].records.filter(student=students[0]).update(status=RecordStatus.ABSENT)
    assert client.get(ME).json()["overall"]["absent"] == 1


def test_with_redis_down_the_own_report_is_computed(client_for, enrolled_student_user, records, redis_down):
    response = client_for(enrolled_student_user).get(ME)
    assert response.status_code == 200
    assert response.json()["overall"]["present"] == 2
