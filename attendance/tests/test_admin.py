import re

import pytest
from django.urls import reverse

from attendance.choices import RecordStatus, SessionStatus
from attendance.models import AttendanceRecord
from attendance.tests.factories import AttendanceRecordFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_for(client):
    def login(user):
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        client.force_login(user)
        return client

    return login


def test_dashboard_page_draws_svg_charts_without_any_external_asset(admin_client_for, admin_user, session, students):
    AttendanceRecordFactory(session=session, student=students[0], status=RecordStatus.PRESENT)
    AttendanceRecordFactory(session=session, student=students[1], status=RecordStatus.ABSENT)
    response = admin_client_for(admin_user).get(reverse("admin:attendance_dashboard"), {"days": 30})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox') == 2
    assert "Daily attendance rate" in html
    # Everything is inline: no script or stylesheet from another host.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert students[1].student_number in html  # 0% rate: listed below the threshold


def test_dashboard_links_to_the_records_held_for_review(admin_client_for, admin_user, session, room, students,
                                                        time_machine):
    from attendance import services
    from attendance.tests.conftest import at

    time_machine.move_to(at(9, 30), tick=False)
    services.hold_for_review(student=students[0], at=at(9, 5), room=room, reason="Seen in two rooms.")
    html = admin_client_for(admin_user).get(reverse("admin:attendance_dashboard")).content.decode()
    link = reverse("admin:attendance_attendancerecord_changelist") + "?needs_review__exact=1"
    assert f'<a href="{link}">1</a>' in html
    listed = admin_client_for(admin_user).get(link).content.decode()
    assert students[0].student_number in listed or str(students[0]) in listed


def test_dashboard_page_needs_view_reports(admin_client_for, make_user):
    guest = make_user(role="guest")
    response = admin_client_for(guest).get(reverse("admin:attendance_dashboard"))
    assert response.status_code == 403


def test_session_change_page_shows_its_records_inline(admin_client_for, admin_user, session, students):
    AttendanceRecordFactory(session=session, student=students[0])
    response = admin_client_for(admin_user).get(reverse("admin:attendance_classsession_change", args=[session.pk]))
    assert response.status_code == 200
    assert students[0].student_number in response.content.decode()


def test_close_action_marks_absentees_through_the_service(admin_client_for, admin_user, session, students):
    response = admin_client_for(admin_user).post(
        reverse("admin:attendance_classsession_changelist"),
        {"action": "close_sessions", "_selected_action": [session.pk]},
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == SessionStatus.CLOSED
    assert AttendanceRecord.objects.filter(session=session, status=RecordStatus.ABSENT).count() == 3


def test_export_action_streams_csv(admin_client_for, admin_user, session, students):
    for student in students:
        AttendanceRecordFactory(session=session, student=student)
    response = admin_client_for(admin_user).post(
        reverse("admin:attendance_classsession_changelist"),
        {"action": "export_csv", "_selected_action": [session.pk]},
    )
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(lines) == 1 + 3


def test_changelist_links_to_the_dashboard(admin_client_for, admin_user, session):
    response = admin_client_for(admin_user).get(reverse("admin:attendance_classsession_changelist"))
    assert reverse("admin:attendance_dashboard") in response.content.decode()


@pytest.mark.parametrize(
    "parameter, field", [("needs_review__exact", "needs_review"), ("early_leave__exact", "early_leave")]
)
def test_the_records_list_filters_both_ways_on_the_yes_no_flags(admin_client_for, admin_user, session, students,
                                                               parameter, field):
    flagged = AttendanceRecordFactory(session=session, student=students[0], **{field: True})
    plain = AttendanceRecordFactory(session=session, student=students[1])
    url = reverse("admin:attendance_attendancerecord_changelist")
    for value, expected in (("1", flagged), ("0", plain)):
        response = admin_client_for(admin_user).get(url, {parameter: value})
        assert [record.pk for record in response.context["cl"].result_list] == [expected.pk]
