"""The whole sign-in lifecycle through the API, against PostgreSQL and Redis."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.choices import AuditAction, Role
from accounts.models import AuditEvent, RefreshTokenClient, User
from accounts.tests.conftest import assert_error

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Another-Strong-Pass-42"
NEWER_PASSWORD = "Yet-Another-Pass-77!"


def refresh(raw: str, client: APIClient | None = None):
    return (client or APIClient()).post("/api/v1/auth/refresh", {"refresh": raw})


def test_full_lifecycle(bearer, settings):
    settings.FRONTEND_URL = "https://campus.example"
    # Six logins of one account in a minute: above the real limit, which test_ratelimits covers.
    settings.ACCOUNTS_LOGIN_RATE_PER_IP = settings.ACCOUNTS_LOGIN_RATE_PER_USERNAME = "20/m"
    anon = APIClient()

    # register -> a guest
    response = anon.post(
        "/api/v1/auth/register",
        {"username": "newcomer", "email": "New@Campus.test", "password": NEW_PASSWORD, "first_name": "Nia"},
    )
    assert response.status_code == 201, response.content
    user = User.objects.get(username="newcomer")
    assert user.role == Role.GUEST and response.json()["role"] == "guest"
    assert "password" not in response.json()

    # login by email, from a named client
    response = anon.post(
        "/api/v1/auth/login",
        {"username": "new@campus.test", "password": NEW_PASSWORD},
        HTTP_USER_AGENT="Phone/1.0",
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 200, response.content
    first = response.json()
    assert first["user"]["username"] == "newcomer"
    assert bearer(first["access"]).get("/api/v1/auth/me").json()["email"] == "New@campus.test"
    client_row = RefreshTokenClient.objects.get(token__user=user)
    assert (client_row.ip, client_row.user_agent) == ("10.1.2.3", "Phone/1.0")

    # refresh rotates: a new pair, the old refresh token blacklisted
    response = refresh(first["refresh"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh"] != first["refresh"]
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1

    # the rotated token is refused, and its reuse ends the chain
    assert_error(refresh(first["refresh"]), 401, "token_reused")
    assert AuditEvent.objects.filter(action=AuditAction.REFRESH_REUSED, actor=user).count() == 1
    assert_error(refresh(second["refresh"]), 401)

    # a fresh login, then logout; refresh after logout is refused
    third = APIClient().post("/api/v1/auth/login", {"username": "newcomer", "password": NEW_PASSWORD}).json()
    assert APIClient().post("/api/v1/auth/logout", {"refresh": third["refresh"]}).status_code == 204
    assert_error(refresh(third["refresh"]), 401)

    # two sessions; a password change from one ends the other
    phone = APIClient().post("/api/v1/auth/login", {"username": "newcomer", "password": NEW_PASSWORD}).json()
    laptop = APIClient().post("/api/v1/auth/login", {"username": "newcomer", "password": NEW_PASSWORD}).json()
    response = bearer(phone["access"]).post(
        "/api/v1/auth/password/change", {"current_password": NEW_PASSWORD, "new_password": NEWER_PASSWORD}
    )
    assert response.status_code == 200, response.content
    assert response.json()["sessions_ended"] == 1
    assert_error(refresh(laptop["refresh"]), 401)
    assert refresh(phone["refresh"]).status_code == 200
    assert APIClient().post("/api/v1/auth/login", {"username": "newcomer", "password": NEW_PASSWORD}).status_code == 401

    # reset by email: 202, a one-time link that works once, and every session ends
    kept = APIClient().post("/api/v1/auth/login", {"username": "newcomer", "password": NEWER_PASSWORD}).json()
    response = anon.post("/api/v1/auth/password/reset", {"email": "NEW@campus.test"})
    assert response.status_code == 202
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["New@campus.test"]
    link = re.search(r"https://campus\.example/reset-password\?uid=(\S+)&token=(\S+)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    confirm = {"uid": link.group(1), "token": link.group(2), "new_password": "Reset-Pass-2026-ok"}
    assert anon.post("/api/v1/auth/password/reset/confirm", confirm).status_code == 200
    assert_error(anon.post("/api/v1/auth/password/reset/confirm", confirm), 400, "invalid_reset_link")
    assert_error(refresh(kept["refresh"]), 401)
    user.refresh_from_db()
    assert user.check_password("Reset-Pass-2026-ok")

    actions = set(AuditEvent.objects.filter(actor=user).values_list("action", flat=True))
    assert {
        AuditAction.REGISTERED,
        AuditAction.LOGIN_SUCCEEDED,
        AuditAction.REFRESH_REUSED,
        AuditAction.LOGOUT,
        AuditAction.PASSWORD_CHANGED,
        AuditAction.PASSWORD_RESET_REQUESTED,
        AuditAction.PASSWORD_RESET,
    } <= actions


def test_login_by_username_is_case_insensitive(make_user):
    make_user(username="MixedCase")
    response = APIClient().post("/api/v1/auth/login", {"username": "mixedcase", "password": "Correct-Horse-9-Battery"})
    assert response.status_code == 200
    assert response.json()["user"]["username"] == "MixedCase"


def test_wrong_password_and_unknown_user_get_the_same_error(make_user):
    make_user(username="known")
    wrong = APIClient().post("/api/v1/auth/login", {"username": "known", "password": "Nope-Nope-123!"})
    unknown = APIClient().post("/api/v1/auth/login", {"username": "ghost", "password": "Nope-Nope-123!"})
    first = assert_error(wrong, 401, "invalid_credentials")
    second = assert_error(unknown, 401, "invalid_credentials")
    assert first["message"] == second["message"]
    failures = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED).order_by("id")
    assert [event.actor_label for event in failures] == ["known", "ghost"]


def test_inactive_user_cannot_log_in_and_gets_the_same_error(make_user):
    user = make_user(username="sleeping")
    user.is_active = False
    user.save()
    response = APIClient().post("/api/v1/auth/login", {"username": "sleeping", "password": "Correct-Horse-9-Battery"})
    assert_error(response, 401, "invalid_credentials")
    assert not OutstandingToken.objects.filter(user=user).exists()


def test_login_upgrades_an_older_hash_to_argon2(make_user, settings):
    user = make_user(username="oldhash")
    assert user.password.startswith("md5$")
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    assert (
        APIClient()
        .post("/api/v1/auth/login", {"username": "oldhash", "password": "Correct-Horse-9-Battery"})
        .status_code
        == 200
    )
    user.refresh_from_db()
    assert user.password.startswith("argon2")


def test_rotated_chain_cannot_outlive_the_absolute_cap(make_user, login, settings):
    settings.JWT_REFRESH_ABSOLUTE_DAYS = 10
    user = make_user()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        current = login(user)["refresh"]
    # Refresh every 6 days (inside the 7-day lifetime): the chain still ends at day 10.
    with time_machine.travel(start + timedelta(days=6), tick=False):
        response = refresh(current)
        assert response.status_code == 200
        body = response.json()
        current = body["refresh"]
        # The new token's expiry is capped at the chain's start + 10 days, not now + 7.
        expires = datetime.fromisoformat(body["refresh_expires_at"].replace("Z", "+00:00"))
        assert abs((expires - (start + timedelta(days=10))).total_seconds()) < 2
    with time_machine.travel(start + timedelta(days=10, seconds=5), tick=False):
        assert_error(refresh(current), 401)
    assert OutstandingToken.objects.filter(user=user).count() == 2


def test_refresh_of_a_deactivated_user_is_refused(make_user, login):
    user = make_user()
    tokens = login(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert_error(refresh(tokens["refresh"]), 401)


def test_reuse_of_a_rotated_token_revokes_the_newer_tokens_of_its_chain(make_user, login):
    user = make_user()
    first = login(user)
    other_session = login(user)
    second = refresh(first["refresh"]).json()
    assert refresh(first["refresh"]).status_code == 401
    assert refresh(second["refresh"]).status_code == 401
    # The user's other session is not part of the stolen chain.
    assert refresh(other_session["refresh"]).status_code == 200
    events = AuditEvent.objects.filter(action=AuditAction.REFRESH_REUSED, actor=user).order_by("id")
    assert [event.details for event in events] == [
        {"revoked_because": "rotated", "tokens_revoked": 1},
        {"revoked_because": "reuse", "tokens_revoked": 0},
    ]


def test_verify_accepts_valid_tokens_and_refuses_revoked_ones(make_user, login):
    user = make_user()
    tokens = login(user)
    anon = APIClient()
    assert anon.post("/api/v1/auth/verify", {"token": tokens["access"]}).json() == {
        "valid": True,
        "token_type": "access",
    }
    assert anon.post("/api/v1/auth/verify", {"token": tokens["refresh"]}).json()["token_type"] == "refresh"
    anon.post("/api/v1/auth/logout", {"refresh": tokens["refresh"]})
    assert_error(anon.post("/api/v1/auth/verify", {"token": tokens["refresh"]}), 401)
    assert_error(anon.post("/api/v1/auth/verify", {"token": "not.a.token"}), 401)


def test_self_registration_can_be_switched_off(settings):
    settings.ALLOW_SELF_REGISTRATION = False
    response = APIClient().post(
        "/api/v1/auth/register", {"username": "nope", "email": "nope@campus.test", "password": NEW_PASSWORD}
    )
    assert_error(response, 403, "registration_closed")
    assert not User.objects.filter(username="nope").exists()


def test_registration_refuses_duplicate_username_or_email_case_insensitively(make_user):
    make_user(username="taken", email="taken@campus.test")
    response = APIClient().post(
        "/api/v1/auth/register", {"username": "TAKEN", "email": "TAKEN@campus.test", "password": NEW_PASSWORD}
    )
    error = assert_error(response, 409, "duplicate")
    assert set(error["details"]) == {"username", "email"}
    assert User.objects.count() == 1


def test_registration_applies_the_password_rules():
    response = APIClient().post(
        "/api/v1/auth/register", {"username": "weak", "email": "weak@campus.test", "password": "password"}
    )
    error = assert_error(response, 400)
    messages = " ".join(error["details"]["password"])
    assert "at least 10 characters" in messages and "too common" in messages and "symbol" in messages
    assert not User.objects.filter(username="weak").exists()


def test_reset_for_an_unknown_address_is_also_202_and_sends_nothing():
    response = APIClient().post("/api/v1/auth/password/reset", {"email": "nobody@campus.test"})
    assert response.status_code == 202
    assert mail.outbox == []


def test_password_change_needs_the_current_password(make_user, login, bearer):
    user = make_user()
    tokens = login(user)
    response = bearer(tokens["access"]).post(
        "/api/v1/auth/password/change", {"current_password": "Wrong-Pass-000!", "new_password": NEW_PASSWORD}
    )
    assert_error(response, 400, "wrong_password")
    user.refresh_from_db()
    assert user.check_password("Correct-Horse-9-Battery")


def test_sessions_list_and_revoke_one_and_all(make_user, login, bearer):
    user = make_user()
    phone = login(user, HTTP_USER_AGENT="Phone", REMOTE_ADDR="10.0.0.1")
    laptop = login(user, HTTP_USER_AGENT="Laptop", REMOTE_ADDR="10.0.0.2")
    client = bearer(phone["access"])
    listing = client.get("/api/v1/auth/sessions").json()
    assert listing["count"] == 2
    by_agent = {row["user_agent"]: row for row in listing["results"]}
    assert by_agent["Phone"]["current"] is True and by_agent["Laptop"]["current"] is False
    assert by_agent["Laptop"]["ip"] == "10.0.0.2"
    assert {"created_at", "expires_at", "started_at"} <= set(by_agent["Laptop"])

    assert client.delete(f"/api/v1/auth/sessions/{by_agent['Laptop']['id']}").status_code == 204
    assert_error(refresh(laptop["refresh"]), 401)
    assert [row["user_agent"] for row in client.get("/api/v1/auth/sessions").json()["results"]] == ["Phone"]
    assert AuditEvent.objects.filter(action=AuditAction.SESSION_REVOKED, actor=user).count() == 1

    assert client.delete("/api/v1/auth/sessions").json() == {"sessions_ended": 1}
    assert_error(refresh(phone["refresh"]), 401)
    assert AuditEvent.objects.filter(action=AuditAction.SESSIONS_REVOKED, actor=user).count() == 1


def test_a_user_cannot_revoke_someone_elses_session(make_user, login, bearer):
    owner, intruder = make_user(), make_user()
    login(owner)
    token_id = OutstandingToken.objects.get(user=owner).pk
    response = bearer(login(intruder)["access"]).delete(f"/api/v1/auth/sessions/{token_id}")
    assert_error(response, 404)
    assert not BlacklistedToken.objects.filter(token_id=token_id).exists()


def test_me_patch_changes_profile_and_merges_preferences(make_user, login, bearer):
    user = make_user(preferences={"language": "en"})
    client = bearer(login(user)["access"])
    response = client.patch(
        "/api/v1/auth/me",
        {"first_name": "Ada", "preferences": {"time_zone": "Europe/Berlin", "notifications": {"email": False}}},
    )
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.first_name == "Ada"
    assert user.preferences == {"language": "en", "time_zone": "Europe/Berlin", "notifications": {"email": False}}


@pytest.mark.parametrize("field,value", [("role", "admin"), ("is_active", False), ("username", "renamed")])
def test_me_patch_refuses_fields_that_are_not_self_editable(make_user, login, bearer, field, value):
    user = make_user(role="guest")
    response = bearer(login(user)["access"]).patch("/api/v1/auth/me", {field: value})
    error = assert_error(response, 400)
    assert field in error["details"]
    user.refresh_from_db()
    assert (user.role, user.is_active, user.username.startswith("user")) == ("guest", True, True)


def test_registration_with_a_bad_password_says_nothing_about_taken_names(make_user):
    make_user(username="taken", email="taken@campus.test")
    body = {"username": "taken", "email": "taken@campus.test", "password": "short"}
    response = APIClient().post("/api/v1/auth/register", body)
    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {"password"}


def test_registration_is_limited_per_address(settings):
    settings.ACCOUNTS_REGISTER_RATE_PER_IP = "2/h"
    for n in range(2):
        body = {"username": f"new{n}", "email": f"new{n}@campus.test", "password": NEW_PASSWORD}
        assert APIClient().post("/api/v1/auth/register", body).status_code == 201
    body = {"username": "new9", "email": "new9@campus.test", "password": NEW_PASSWORD}
    assert_error(APIClient().post("/api/v1/auth/register", body), 429, "rate_limited")
    assert not User.objects.filter(username="new9").exists()


def test_registration_fails_closed_with_redis_down(redis_down):
    body = {"username": "new1", "email": "new1@campus.test", "password": NEW_PASSWORD}
    response = APIClient().post("/api/v1/auth/register", body)
    assert_error(response, 503, "rate_limit_unavailable")
    assert response["Retry-After"]
    assert not User.objects.filter(username="new1").exists()
