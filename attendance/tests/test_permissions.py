"""Who may reach what, role by role (scope within a role is tested beside each endpoint)."""

import pytest

from attendance import services
from attendance.tests.factories import student_user

pytestmark = pytest.mark.django_db

READ_ENDPOINTS = {
    # path: roles that get 200
    "/api/v1/attendance/sessions": {"student", "staff", "admin"},
    "/api/v1/attendance/records": {"student", "staff", "admin"},
    "/api/v1/attendance/excuses": {"student", "staff", "admin"},
    "/api/v1/dashboard/summary": {"staff", "admin"},
    "/api/v1/analytics/trends": {"staff", "admin"},
}


@pytest.fixture
def user_of_role(make_user, students):
    def make(role):
        if role == "student":
            return student_user(students[0])
        return make_user(role=role)

    return make


@pytest.mark.parametrize("role", ["guest", "student", "staff", "admin"])
@pytest.mark.parametrize("path", list(READ_ENDPOINTS))
def test_read_endpoints_per_role(client_for, user_of_role, session, role, path):
    response = client_for(user_of_role(role)).get(path)
    if role in READ_ENDPOINTS[path]:
        assert response.status_code == 200, response.content
    else:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("role", "expected"), [("guest", 403), ("student", 403), ("staff", 404), ("admin", 200)]
)
def test_closing_a_session_per_role(client_for, user_of_role, session, role, expected):
    # The staff member here teaches nothing, so the session is not visible to them (404);
    # the section's own teacher is tested in test_api.
    allowed = expected == 200
    response = client_for(user_of_role(role)).post(f"/api/v1/attendance/sessions/{session.pk}/close")
    assert response.status_code == expected
    session.refresh_from_db()
    assert (session.status == "closed") is allowed


def test_staff_cannot_decide_excuses_of_sections_they_do_not_teach(client_for, make_user, session, students):
    excuse = services.file_excuse(student=students[0], session=session, reason="flu", by=student_user(students[0]))
    response = client_for(make_user(role="staff")).post(f"/api/v1/attendance/excuses/{excuse.pk}/approve")
    assert response.status_code == 404  # not visible outside the sections they teach
    excuse.refresh_from_db()
    assert excuse.status == "pending"


def test_staff_may_file_an_excuse_for_a_student(client_for, teacher, session, students):
    response = client_for(teacher).post(
        "/api/v1/attendance/excuses", {"session": session.pk, "reason": "sports day", "student": students[1].pk}
    )
    assert response.status_code == 201
    assert response.json()["student"]["id"] == students[1].pk
