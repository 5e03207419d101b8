"""Admin CRUD of users: filters, search, query counts, and what role and activation changes end."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.choices import AuditAction
from accounts.models import AuditEvent, User
from accounts.sessions import start_session
from accounts.tests.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user, client_for):
    return client_for(admin_user)


def _refresh(raw: str):
    return APIClient().post("/api/v1/auth/refresh", {"refresh": raw})


def test_list_filters_by_role_and_active(make_user, admin_client):
    make_user(role="staff", username="s1")
    make_user(role="student", username="st1")
    gone = make_user(role="student", username="st2")
    gone.is_active = False
    gone.save()
    names = lambda r: [row["username"] for row in r.json()["results"]]  # noqa: E731
    assert names(admin_client.get("/api/v1/users", {"role": "student"})) == ["st1", "st2"]
    assert names(admin_client.get("/api/v1/users", {"role": "student", "active": "false"})) == ["st2"]
    assert names(admin_client.get("/api/v1/users", {"active": "true", "role": "staff"})) == ["s1"]


def test_list_searches_username_email_and_names(make_user, admin_client):
    make_user(username="zed", first_name="Ottoline", email="zz@campus.test")
    make_user(username="yan", first_name="Bea")
    assert [r["username"] for r in admin_client.get("/api/v1/users", {"search": "ottol"}).json()["results"]] == ["zed"]
    assert [r["username"] for r in admin_client.get("/api/v1/users", {"search": "zz@"}).json()["results"]] == ["zed"]


def test_list_refuses_an_unknown_role_filter(admin_client):
    assert_error(admin_client.get("/api/v1/users", {"role": "wizard"}), 400)


@pytest.mark.parametrize("extra_users", [1, 20])
def test_list_query_count_does_not_grow_with_the_page(
    make_user, staff_user, client_for, django_assert_num_queries, extra_users
):
    for _ in range(extra_users):
        make_user(role="student")
    client = client_for(staff_user)  # staff, not admin: admins are superusers and skip the permission queries
    # 1 the requesting user (token) with its own and its group's permissions (RolePermission reads them),
    # 2 COUNT for the page, 3 the page of users.
    with django_assert_num_queries(3):
        response = client.get("/api/v1/users")
    assert response.status_code == 200
    assert response.json()["count"] == extra_users + 1
    assert len(response.json()["results"]) == extra_users + 1


def test_admin_creates_a_user_without_password_and_the_create_is_audited(admin_user, admin_client):
    response = admin_client.post(
        "/api/v1/users", {"username": "newstaff", "email": "newstaff@campus.test", "role": "staff"}
    )
    assert response.status_code == 201, response.content
    user = User.objects.get(username="newstaff")
    assert user.role == "staff" and user.groups.get().name == "staff" and user.is_staff
    assert not user.has_usable_password()
    event = AuditEvent.objects.get(action=AuditAction.USER_CREATED)
    assert (event.actor, event.target) == (admin_user, f"user:{user.pk}")


def test_create_refuses_a_weak_password_and_creates_nothing(admin_client):
    response = admin_client.post("/api/v1/users", {"username": "weakling", "email": "w@campus.test", "password": "abc"})
    assert_error(response, 400)
    assert not User.objects.filter(username="weakling").exists()


def test_role_change_applies_the_group_ends_sessions_and_is_audited(make_user, admin_user, admin_client):
    user = make_user(role="student")
    session = start_session(user=user)
    response = admin_client.patch(f"/api/v1/users/{user.pk}", {"role": "staff"})
    assert response.status_code == 200 and response.json()["role"] == "staff"
    user = User.objects.get(pk=user.pk)
    assert user.has_campus_perm("view_users")
    assert_error(_refresh(session.refresh), 401)
    event = AuditEvent.objects.get(action=AuditAction.ROLE_CHANGED)
    assert event.details == {"from": "student", "to": "staff", "tokens_revoked": 1}


def test_deactivation_ends_sessions_and_refuses_access_tokens(make_user, admin_client, client_for):
    user = make_user()
    session = start_session(user=user)
    users_client = client_for(user)
    assert admin_client.delete(f"/api/v1/users/{user.pk}").status_code == 204
    user.refresh_from_db()
    assert user.is_active is False
    assert User.objects.filter(pk=user.pk).exists()  # deactivated, not deleted
    assert_error(_refresh(session.refresh), 401)
    assert_error(users_client.get("/api/v1/auth/me"), 401)
    assert AuditEvent.objects.filter(action=AuditAction.DEACTIVATED, target=f"user:{user.pk}").count() == 1


def test_reactivation_is_audited(make_user, admin_client):
    user = make_user()
    user.is_active = False
    user.save()
    assert admin_client.patch(f"/api/v1/users/{user.pk}", {"is_active": True}).json()["is_active"] is True
    assert AuditEvent.objects.filter(action=AuditAction.ACTIVATED).count() == 1


def test_admin_password_set_ends_sessions(make_user, admin_client):
    user = make_user()
    session = start_session(user=user)
    response = admin_client.post(f"/api/v1/users/{user.pk}/password", {"new_password": "Admin-Chosen-Pass-1!"})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password("Admin-Chosen-Pass-1!")
    assert_error(_refresh(session.refresh), 401)
    assert AuditEvent.objects.filter(action=AuditAction.PASSWORD_SET).count() == 1


def test_admin_ends_all_sessions_of_a_user(make_user, admin_client):
    user = make_user()
    sessions = [start_session(user=user) for _ in range(2)]
    assert admin_client.delete(f"/api/v1/users/{user.pk}/sessions").json() == {"sessions_ended": 2}
    for session in sessions:
        assert_error(_refresh(session.refresh), 401)


def test_admin_cannot_demote_or_deactivate_themselves(admin_user, admin_client):
    assert_error(admin_client.patch(f"/api/v1/users/{admin_user.pk}", {"role": "guest"}), 403, "self_lockout")
    assert_error(admin_client.delete(f"/api/v1/users/{admin_user.pk}"), 403, "self_lockout")
    admin_user.refresh_from_db()
    assert (admin_user.role, admin_user.is_active) == ("admin", True)


def test_update_refuses_a_duplicate_email(make_user, admin_client):
    make_user(email="one@campus.test")
    other = make_user(email="two@campus.test")
    assert_error(admin_client.patch(f"/api/v1/users/{other.pk}", {"email": "ONE@campus.test"}), 409)
    other.refresh_from_db()
    assert other.email == "two@campus.test"


def test_update_refuses_username_and_unknown_fields(make_user, admin_client):
    user = make_user(username="fixed")
    error = assert_error(admin_client.patch(f"/api/v1/users/{user.pk}", {"username": "x", "is_superuser": True}), 400)
    assert set(error["details"]) == {"username", "is_superuser"}
    user.refresh_from_db()
    assert (user.username, user.is_superuser) == ("fixed", False)


def test_unknown_user_is_404(admin_client):
    assert_error(admin_client.get("/api/v1/users/999999"), 404)


def test_roles_endpoint_lists_each_role_with_its_permissions(client_for, guest_user):
    body = client_for(guest_user).get("/api/v1/roles").json()
    assert [row["role"] for row in body] == ["admin", "staff", "student", "guest"]
    by_role = {row["role"]: row for row in body}
    assert by_role["guest"]["permissions"] == ["view_campus"]
    assert len(by_role["admin"]["permissions"]) == 20
    assert "enroll_faces" not in by_role["staff"]["permissions"]
    assert by_role["staff"]["label"] == "Staff"


@pytest.mark.parametrize("path", ["/api/v1/users/false", "/api/v1/users/false/sessions", "/api/v1/users/x/password"])
def test_a_non_numeric_user_id_is_404_on_every_detail_route(admin_client, path):
    response = admin_client.delete(path) if not path.endswith("password") else admin_client.post(path, {})
    assert_error(response, 404)
