"""Bad input gets a 4xx in the error format and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.models import AuditEvent, User
from accounts.sessions import start_session
from accounts.tests.conftest import assert_error

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "Fresh-Pass-2026!"


def _snapshot() -> tuple[int, int, int]:
    return User.objects.count(), OutstandingToken.objects.count(), AuditEvent.objects.count()


@pytest.mark.parametrize(
    "path,body",
    [
        ("/api/v1/auth/login", {}),
        ("/api/v1/auth/login", {"username": "someone"}),
        ("/api/v1/auth/login", {"username": ["a"], "password": "x"}),
        ("/api/v1/auth/login", {"username": "u" * 255, "password": "x"}),
        ("/api/v1/auth/login", {"username": "u", "password": "p" * 129}),
        ("/api/v1/auth/login", {"username": "u", "password": "x", "extra": 1}),
        ("/api/v1/auth/refresh", {}),
        ("/api/v1/auth/refresh", {"refresh": {"a": 1}}),
        ("/api/v1/auth/refresh", {"refresh": "x" * 5000}),
        ("/api/v1/auth/logout", {"refresh": None}),
        ("/api/v1/auth/verify", {"token": ""}),
        ("/api/v1/auth/register", {"username": "new"}),
        ("/api/v1/auth/register", {"username": "bad name!", "email": "a@campus.test", "password": GOOD_PASSWORD}),
        ("/api/v1/auth/register", {"username": "n" * 151, "email": "a@campus.test", "password": GOOD_PASSWORD}),
        ("/api/v1/auth/register", {"username": "new", "email": "not-an-email", "password": GOOD_PASSWORD}),
        ("/api/v1/auth/register", {"username": "new", "email": "a@campus.test", "password": "Aa1!" * 33}),
        ("/api/v1/auth/register", {"username": "new", "email": "a@campus.test", "password": 12345678901}),
        ("/api/v1/auth/register", {"username": "new", "email": "a@b.test", "password": GOOD_PASSWORD, "role": "admin"}),
        ("/api/v1/auth/password/reset", {"email": "nope"}),
        ("/api/v1/auth/password/reset", {"email": True}),
        ("/api/v1/auth/password/reset/confirm", {"uid": "x", "token": "y"}),
        ("/api/v1/auth/password/reset/confirm", {"uid": "!!", "token": "y", "new_password": GOOD_PASSWORD}),
        ("/api/v1/auth/password/reset/confirm", {"uid": "u" * 65, "token": "y", "new_password": GOOD_PASSWORD}),
    ],
)
def test_public_endpoints_refuse_bad_bodies_with_400(path, body):
    before = _snapshot()
    response = APIClient().post(path, body, format="json")
    assert_error(response, 400)
    assert _snapshot() == before


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/refresh", "/api/v1/auth/password/reset"]
)
def test_malformed_json_is_400_malformed_request(path):
    response = APIClient().post(path, '{"username": "x", ', content_type="application/json")
    assert_error(response, 400, "malformed_request")


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null"])
def test_json_that_is_not_an_object_is_400(body):
    before = _snapshot()
    response = APIClient().post("/api/v1/auth/login", body, content_type="application/json")
    assert_error(response, 400)
    assert _snapshot() == before


def test_form_encoded_body_is_415():
    response = APIClient().post("/api/v1/auth/login", {"username": "a", "password": "b"}, format="multipart")
    assert_error(response, 415, "unsupported_media_type")


def test_a_forged_refresh_token_is_401_and_issues_nothing(make_user):
    user = make_user()
    real = start_session(user=user).refresh
    header, payload, signature = real.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    before = _snapshot()
    assert_error(APIClient().post("/api/v1/auth/refresh", {"refresh": forged}), 401)
    assert _snapshot() == before


def test_an_expired_refresh_token_is_401_and_issues_nothing(make_user):
    user = make_user()
    with time_machine.travel(timezone.now() - timedelta(days=8), tick=False):
        old = start_session(user=user).refresh
    before = _snapshot()
    assert_error(APIClient().post("/api/v1/auth/refresh", {"refresh": old}), 401)
    assert _snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        {"preferences": {"time_zone": "Mars/Olympus"}},
        {"preferences": {"colour": "blue"}},
        {"preferences": {"notifications": {"email": "maybe"}}},
        {"preferences": "dark"},
        {"email": "not-an-email"},
        {"first_name": "x" * 151},
        {"phone": "1" * 33},
    ],
)
def test_me_patch_refuses_bad_values_and_changes_nothing(make_user, client_for, body):
    user = make_user(first_name="Kept", preferences={"language": "en"})
    assert_error(client_for(user).patch("/api/v1/auth/me", body, format="json"), 400)
    user.refresh_from_db()
    assert (user.first_name, user.preferences) == ("Kept", {"language": "en"})


def test_me_patch_refuses_an_email_taken_by_someone_else(make_user, client_for):
    make_user(email="taken@campus.test")
    user = make_user(email="mine@campus.test")
    assert_error(client_for(user).patch("/api/v1/auth/me", {"email": "Taken@Campus.test"}), 409)
    user.refresh_from_db()
    assert user.email == "mine@campus.test"


def test_password_change_refuses_a_new_password_that_breaks_the_rules(make_user, client_for):
    user = make_user(username="rulebreaker")
    response = client_for(user).post(
        "/api/v1/auth/password/change",
        {"current_password": "Correct-Horse-9-Battery", "new_password": "rulebreaker1"},
    )
    error = assert_error(response, 400)
    assert any("similar" in message for message in error["details"]["password"])
    user.refresh_from_db()
    assert user.check_password("Correct-Horse-9-Battery")


def test_reset_confirm_with_a_wrong_token_changes_nothing(make_user):
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    user = make_user()
    response = APIClient().post(
        "/api/v1/auth/password/reset/confirm",
        {"uid": urlsafe_base64_encode(force_bytes(user.pk)), "token": "abc-123", "new_password": GOOD_PASSWORD},
    )
    assert_error(response, 400, "invalid_reset_link")
    user.refresh_from_db()
    assert user.check_password("Correct-Horse-9-Battery")


def test_session_revoke_with_a_non_numeric_id_is_404(make_user, client_for):
    assert_error(client_for(make_user()).delete("/api/v1/auth/sessions/abc"), 404)
