"""One rule for who sees which students and records, the same in the API, the admin and the dashboard."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from attendance.models import AttendanceRecord
from attendance.tests.factories import AttendanceRecordFactory, ClassSessionFactory
from campus.models import Student
from campus.tests.factories import EnrolmentFactory, SectionFactory, StudentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_classes(make_user):
    """A teacher's section with one student, another section with another student."""
    teacher = make_user(role="staff", username="teach")
    mine, theirs = SectionFactory(), SectionFactory()
    mine.teachers.set([teacher])
    own_student, other_student = StudentFactory(student_number="1001"), StudentFactory(student_number="2002")
    EnrolmentFactory(section=mine, student=own_student)
    EnrolmentFactory(section=theirs, student=other_student)
    own = AttendanceRecordFactory(session=ClassSessionFactory(section=mine), student=own_student)
    other = AttendanceRecordFactory(session=ClassSessionFactory(section=theirs), student=other_student)
    return {"teacher": teacher, "own": own, "other": other}


def test_a_teacher_sees_the_students_and_records_of_the_sections_they_teach(two_classes):
    teacher = two_classes["teacher"]
    assert list(Student.objects.visible_to(teacher)) == [two_classes["own"].student]
    assert list(AttendanceRecord.objects.visible_to(teacher)) == [two_classes["own"]]


def test_campus_wide_duties_are_one_permission_granted_to_a_staff_user(two_classes):
    from django.contrib.auth.models import Permission

    teacher = two_classes["teacher"]
    teacher.user_permissions.add(Permission.objects.get(codename="view_all_students"))
    teacher = User.objects.get(pk=teacher.pk)  # fresh permission cache
    assert AttendanceRecord.objects.visible_to(teacher).count() == 2
    assert Student.objects.visible_to(teacher).count() == 2


def test_api_search_records_and_reports_agree_for_a_teacher(two_classes, client_for):
    client = client_for(two_classes["teacher"])
    own, other = two_classes["own"], two_classes["other"]
    found = client.get("/api/v1/students", {"search": "1001"}).json()["results"]
    assert [row["id"] for row in found] == [own.student_id]
    assert client.get(f"/api/v1/attendance/reports/students/{own.student_id}").status_code == 200
    records = client.get("/api/v1/attendance/records").json()["results"]
    assert [row["id"] for row in records] == [own.pk]
    # The other section's student is invisible everywhere alike.
    assert client.get("/api/v1/students", {"search": "2002"}).json()["results"] == []
    assert client.get(f"/api/v1/attendance/reports/students/{other.student_id}").status_code == 404


def test_the_teachers_dashboard_counts_only_their_sections(two_classes, client_for):
    from attendance import dashboard

    summary = dashboard.summary(day=two_classes["own"].session.date, user=two_classes["teacher"])
    assert summary["counts"]["total"] == 1


def test_the_admin_lists_only_the_teachers_records(two_classes):
    teacher = two_classes["teacher"]
    client = Client()
    client.force_login(teacher)
    page = client.get("/admin/attendance/attendancerecord/")
    assert page.status_code == 200
    assert page.context["cl"].result_list.count() == 1
    assert list(page.context["cl"].result_list) == [two_classes["own"]]


def test_staff_reach_the_admin_index_with_a_today_panel_and_no_technical_models(make_user):
    client = Client()
    client.force_login(make_user(role="staff"))
    page = client.get("/admin/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "permission to view or edit anything" not in body
    assert 'id="today"' in body and "Waiting for you" in body
    for hidden in ["/admin/devices/", "/admin/cameras/frame/", "/admin/django_celery_beat/",
                   "/admin/token_blacklist/", "/admin/accounts/auditevent/"]:
        assert hidden not in body, hidden


def test_createsuperuser_makes_an_admin_in_the_admin_group(client_for):
    call_command("createsuperuser", username="root", email="root@campus.test", interactive=False, verbosity=0)
    root = User.objects.get(username="root")
    assert root.role == "admin" and root.is_superuser
    assert list(root.groups.values_list("name", flat=True)) == ["admin"]
    assert client_for(root).get("/api/v1/auth/me").json()["role"] == "admin"


def test_a_missing_admin_page_is_a_readable_404_and_api_paths_keep_json(admin_client):
    page = admin_client.get("/admin/attendance/attendancerecord/999999/correct/")
    assert page.status_code == 404
    api = admin_client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_the_dashboard_opens_on_the_current_week_and_says_when_data_is_thin(admin_client):
    from django.utils import timezone

    page = admin_client.get("/admin/attendance/classsession/dashboard/")
    assert page.status_code == 200
    today = timezone.localdate()
    assert page.context["date_from"].weekday() == 0 and (today - page.context["date_from"]).days < 7
    assert page.context["days"] == 7
    assert "Not enough data yet" in page.content.decode()
    assert admin_client.get("/admin/attendance/classsession/dashboard/?days=30").context["days"] == 30
