"""Every kind of bad credential on a user endpoint is a 401 in the error format."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.conftest import assert_error

pytestmark = pytest.mark.django_db


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user) -> dict:
    access = RefreshToken.for_user(user).access_token
    return dict(access.payload)


def _get_me(authorization: str):
    return APIClient().get("/api/v1/auth/me", HTTP_AUTHORIZATION=authorization)


def test_a_valid_access_token_is_accepted(make_user):
    user = make_user()
    token = jwt.encode(_claims(user), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
    response = _get_me(f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()["username"] == user.username


def test_alg_none_is_refused(make_user):
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(make_user()))}."
    assert_error(_get_me(f"Bearer {token}"), 401)


def test_another_algorithm_with_the_right_key_is_refused(make_user):
    token = jwt.encode(_claims(make_user()), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")
    assert_error(_get_me(f"Bearer {token}"), 401)


def test_a_bad_signature_is_refused(make_user):
    token = jwt.encode(_claims(make_user()), "some-other-key-that-is-long-enough-0123456789", algorithm="HS256")
    assert_error(_get_me(f"Bearer {token}"), 401)


def test_a_forged_payload_with_the_original_signature_is_refused(make_user):
    user, other = make_user(), make_user(role="admin")
    header, _payload, signature = str(RefreshToken.for_user(user).access_token).split(".")
    forged = {**_claims(user), "user_id": str(other.pk)}
    assert_error(_get_me(f"Bearer {header}.{_b64(forged)}.{signature}"), 401)


def test_an_expired_access_token_is_refused(make_user):
    user = make_user()
    with time_machine.travel(timezone.now() - timedelta(minutes=6), tick=False):
        access = str(RefreshToken.for_user(user).access_token)
    error = assert_error(_get_me(f"Bearer {access}"), 401)
    assert error["code"] == "authentication_failed"


def test_a_refresh_token_used_as_an_access_token_is_refused(make_user):
    refresh = str(RefreshToken.for_user(make_user()))
    assert_error(_get_me(f"Bearer {refresh}"), 401)


def test_an_access_token_used_as_a_refresh_token_is_refused(make_user):
    access = str(RefreshToken.for_user(make_user()).access_token)
    assert_error(APIClient().post("/api/v1/auth/refresh", {"refresh": access}), 401)


@pytest.mark.parametrize("path", ["/api/v1/auth/me", "/api/v1/users", "/api/v1/roles", "/api/v1/auth/sessions"])
def test_a_device_credential_on_a_user_endpoint_is_refused(path):
    assert_error(APIClient().get(path, HTTP_AUTHORIZATION="Device xyz"), 401)


def test_an_inactive_users_access_token_is_refused_at_once(make_user, client_for):
    user = make_user()
    client = client_for(user)
    assert client.get("/api/v1/auth/me").status_code == 200
    user.is_active = False
    user.save()
    assert_error(client.get("/api/v1/auth/me"), 401)


def test_garbage_in_the_authorization_header_is_refused():
    assert_error(_get_me("Bearer not-a-jwt"), 401)
    assert_error(_get_me("Bearer"), 401)
