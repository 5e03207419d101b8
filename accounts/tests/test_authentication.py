"""A bearer token's user comes with its permissions in one query, read fresh on every request."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import UserJWTAuthentication
from accounts.selectors import user_with_permissions
from accounts.tests.conftest import assert_error

pytestmark = pytest.mark.django_db

USERS = "/api/v1/users"  # needs view_users (staff's role group)


def _perm(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="accounts", codename=codename)


def _request_of(user):
    access = RefreshToken.for_user(user).access_token  # writes the refresh token's OutstandingToken
    return APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {access}")


def test_the_user_and_both_permission_sets_are_one_query(make_user, django_assert_num_queries):
    staff = make_user(role="staff")
    staff.user_permissions.add(_perm("view_all_students"))
    request = _request_of(staff)
    # 1 the user, its own permissions and its role group's (two array subqueries)
    with django_assert_num_queries(1):
        user, _token = UserJWTAuthentication().authenticate(request)
    # ModelBackend reads the primed caches: no query for any check.
    with django_assert_num_queries(0):
        assert user.has_campus_perm("view_users")  # the staff group's
        assert user.has_campus_perm("view_all_students")  # the user's own
        assert not user.has_campus_perm("manage_system")
        held = user.get_all_permissions()
    assert held == staff.get_all_permissions()


def test_primed_sets_are_what_model_backend_reads_itself(make_user):
    staff = make_user(role="staff")
    staff.user_permissions.add(_perm("view_all_students"))
    primed = user_with_permissions(staff.pk)
    from accounts.models import User

    plain = User.objects.get(pk=staff.pk)
    assert (primed.get_user_permissions(), primed.get_group_permissions(), primed.get_all_permissions()) == (
        plain.get_user_permissions(), plain.get_group_permissions(), plain.get_all_permissions()
    )


def test_the_loaded_user_has_every_field_as_the_orm_reads_it(make_user):
    # The row is read raw: JSONField's text must still become a dict (a str here made
    # PATCH auth/me with preferences a 500, found by the contract test).
    from accounts.models import User

    user = make_user(role="staff")
    user.preferences = {"language": "en", "notifications": {"late": True}}
    user.save(update_fields=["preferences"])
    loaded, plain = user_with_permissions(user.pk), User.objects.get(pk=user.pk)
    for field in User._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(plain, field.attname), field.name
    assert loaded.preferences == {"language": "en", "notifications": {"late": True}}


def test_preferences_merge_through_the_bearer_path(make_user, client_for):
    user = make_user(role="staff")
    client = client_for(user)
    first = client.patch("/api/v1/auth/me", {"preferences": {"language": "fr"}}, format="json")
    second = client.patch("/api/v1/auth/me", {"preferences": {"time_zone": "Europe/Paris"}}, format="json")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["preferences"] == {"language": "fr", "time_zone": "Europe/Paris"}


def test_a_permission_taken_from_the_role_group_is_refused_on_the_next_request(make_user, client_for):
    client = client_for(make_user(role="staff"))
    assert client.get(USERS).status_code == 200
    Group.objects.get(name="staff").permissions.remove(_perm("view_users"))
    assert_error(client.get(USERS), 403)


def test_a_permission_given_to_the_user_counts_on_the_next_request(make_user, client_for):
    student = make_user(role="student")
    client = client_for(student)
    assert_error(client.get(USERS), 403)
    student.user_permissions.add(_perm("view_users"))
    assert client.get(USERS).status_code == 200


def test_a_superuser_keeps_every_permission(make_user, client_for):
    admin = make_user(role="admin")
    assert admin.is_superuser
    user = user_with_permissions(admin.pk)
    assert not hasattr(user, "_perm_cache")  # ModelBackend lists a superuser's permissions itself
    assert user.has_campus_perm("manage_system")
    assert client_for(admin).get(USERS).status_code == 200


def test_a_deactivated_user_is_refused_at_once(make_user, client_for):
    staff = make_user(role="staff")
    client = client_for(staff)
    assert client.get(USERS).status_code == 200
    staff.is_active = False
    staff.save(update_fields=["is_active"])
    assert assert_error(client.get(USERS), 401)["message"] == "User is inactive."


def test_a_token_of_a_deleted_user_is_refused(make_user, client_for):
    staff = make_user(role="staff")
    client = client_for(staff)
    staff.delete()
    assert assert_error(client.get(USERS), 401)["message"] == "User not found"


def test_the_user_query_is_prepared_once_per_connection(make_user):
    """Planning it cost more than running it: after a few requests PostgreSQL keeps it prepared
    (DB_PREPARED_STATEMENTS, on by default), and it still answers each user with their own row."""
    from django.db import connection

    staff, student = make_user(role="staff"), make_user(role="student")
    for _ in range(6):
        user, _token = UserJWTAuthentication().authenticate(_request_of(staff))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("ARRAY(SELECT" in statement and "WHERE u." in statement for statement in prepared), prepared
    user, _token = UserJWTAuthentication().authenticate(_request_of(student))
    assert (user.pk, user.has_campus_perm("view_users")) == (student.pk, False)
