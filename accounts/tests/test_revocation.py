"""An ended session's access tokens get 401 at once, from every web process (Redis, database as truth)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts import sessions
from accounts.tests.conftest import assert_error

pytestmark = pytest.mark.django_db(transaction=True)  # revocation is announced after commit
PASSWORD = "Correct-Horse-9-Battery"


@pytest.fixture(autouse=True)
def _room_for_logins(settings):
    settings.ACCOUNTS_LOGIN_RATE_PER_IP = settings.ACCOUNTS_LOGIN_RATE_PER_USERNAME = "50/m"


def me(access: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/auth/me")


def assert_revoked(access: str) -> None:
    assert_error(me(access), 401, "authentication_failed")


def test_logout_ends_the_access_token_at_once(make_user, login):
    pair = login(make_user())
    assert me(pair["access"]).status_code == 200  # caches the session as live
    assert APIClient().post("/api/v1/auth/logout", {"refresh": pair["refresh"]}).status_code == 204
    assert_revoked(pair["access"])


def test_log_out_everywhere_ends_every_access_token(make_user, login, bearer):
    user = make_user()
    phone, laptop = login(user), login(user)
    assert me(laptop["access"]).status_code == 200
    assert bearer(phone["access"]).delete("/api/v1/auth/sessions").status_code == 200
    assert_revoked(phone["access"])
    assert_revoked(laptop["access"])


def test_password_change_ends_the_other_sessions_access_tokens(make_user, login, bearer):
    user = make_user()
    phone, laptop = login(user), login(user)
    assert me(laptop["access"]).status_code == 200
    response = bearer(phone["access"]).post(
        "/api/v1/auth/password/change", {"current_password": PASSWORD, "new_password": "Another-Strong-Pass-42"}
    )
    assert response.status_code == 200, response.content
    assert_revoked(laptop["access"])
    assert me(phone["access"]).status_code == 200  # the session that changed it goes on


def test_an_admins_session_end_revokes_the_users_access_tokens(make_user, login, client_for, admin_user):
    user = make_user()
    pair = login(user)
    assert me(pair["access"]).status_code == 200
    assert client_for(admin_user).delete(f"/api/v1/users/{user.pk}/sessions").status_code == 200
    assert_revoked(pair["access"])


def test_a_reused_refresh_token_revokes_the_familys_access_tokens(make_user, login):
    first = login(make_user())
    second = APIClient().post("/api/v1/auth/refresh", {"refresh": first["refresh"]}).json()
    assert me(second["access"]).status_code == 200 and me(first["access"]).status_code == 200
    assert APIClient().post("/api/v1/auth/refresh", {"refresh": first["refresh"]}).status_code == 401
    assert_revoked(first["access"])
    assert_revoked(second["access"])


def test_rotation_keeps_the_session_live(make_user, login):
    first = login(make_user())
    APIClient().post("/api/v1/auth/refresh", {"refresh": first["refresh"]})
    assert me(first["access"]).status_code == 200


def test_with_redis_down_the_database_answers(make_user, redis_down):
    pair = sessions.start_session(user=make_user())  # the API login fails closed without Redis
    assert me(pair.access).status_code == 200
    sessions.end_session(raw=pair.refresh)
    assert_revoked(pair.access)


def test_a_lost_announcement_is_corrected_by_the_database(make_user, login, settings):
    pair = login(make_user())
    chain = sessions.CampusRefreshToken(pair["refresh"])[sessions.CHAIN_CLAIM]
    assert me(pair["access"]).status_code == 200
    sessions.end_session(raw=pair["refresh"])
    cache.delete(sessions.SESSION_STATE_KEY.format(chain))  # as if the announcement never arrived
    assert_revoked(pair["access"])
