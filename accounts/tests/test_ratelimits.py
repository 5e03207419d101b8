"""Rate limits on the shared Redis cache, and what happens when Redis is down."""

from __future__ import annotations

import pytest
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from accounts.tests.conftest import assert_error

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-Horse-9-Battery"


def _login(client: APIClient, username: str, password: str = PASSWORD, **extra):
    return client.post("/api/v1/auth/login", {"username": username, "password": password}, **extra)


def test_sixth_login_in_a_minute_from_one_ip_gets_429_with_retry_after(make_user):
    make_user(username="alice")
    client = APIClient()
    for _ in range(5):
        assert _login(client, "alice", "Wrong-Pass-000!").status_code == 401
    response = _login(client, "alice")  # right password, but over the limit
    error = assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert error["message"]


def test_sixth_login_from_a_second_client_is_counted_in_the_same_bucket(make_user):
    make_user(username="bob")
    first, second = APIClient(), APIClient()
    for _ in range(3):
        _login(first, "bob", "Wrong-Pass-000!")
    for _ in range(2):
        _login(second, "bob", "Wrong-Pass-000!")
    assert_error(_login(second, "bob"), 429, "rate_limited")


def test_per_username_limit_holds_across_ips(make_user):
    make_user(username="carol")
    for n in range(5):
        _login(APIClient(), "carol", "Wrong-Pass-000!", REMOTE_ADDR=f"10.0.0.{n + 1}")
    assert_error(_login(APIClient(), "carol", REMOTE_ADDR="10.0.0.99"), 429)
    # Another username from a fresh address is not affected.
    make_user(username="dave")
    assert _login(APIClient(), "dave", REMOTE_ADDR="10.0.0.100").status_code == 200


def test_per_ip_limit_holds_across_usernames(make_user):
    for n in range(5):
        _login(APIClient(), f"nobody{n}", "Wrong-Pass-000!", REMOTE_ADDR="10.9.9.9")
    make_user(username="erin")
    assert_error(_login(APIClient(), "erin", REMOTE_ADDR="10.9.9.9"), 429)
    assert _login(APIClient(), "erin", REMOTE_ADDR="10.9.9.10").status_code == 200


def test_spoofed_x_forwarded_for_does_not_change_the_bucket(make_user, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(5):
        _login(APIClient(), f"nobody{n}", "Wrong-Pass-000!", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    make_user(username="frank")
    response = _login(APIClient(), "frank", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert_error(response, 429)


def test_behind_one_trusted_proxy_a_client_prepended_address_is_ignored(make_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy appends the real client (192.0.2.10); the client spoofs what comes before it.
    for n in range(5):
        _login(APIClient(), f"nobody{n}", "Wrong-Pass-000!", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 192.0.2.10")
    make_user(username="gina")
    assert_error(_login(APIClient(), "gina", HTTP_X_FORWARDED_FOR="198.51.100.1, 192.0.2.10"), 429)
    assert _login(APIClient(), "gina", HTTP_X_FORWARDED_FOR="192.0.2.11").status_code == 200


def test_fourth_reset_in_an_hour_gets_429(make_user):
    make_user(username="hank", email="hank@campus.test")
    client = APIClient()
    for _ in range(3):
        assert client.post("/api/v1/auth/password/reset", {"email": "hank@campus.test"}).status_code == 202
    response = client.post("/api/v1/auth/password/reset", {"email": "hank@campus.test"})
    assert_error(response, 429)
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert len(mail.outbox) == 3


def test_reset_limit_per_email_holds_across_ips(make_user):
    make_user(username="ivy", email="ivy@campus.test")
    for n in range(3):
        APIClient().post("/api/v1/auth/password/reset", {"email": "IVY@campus.test"}, REMOTE_ADDR=f"10.1.0.{n}")
    response = APIClient().post("/api/v1/auth/password/reset", {"email": "ivy@campus.test"}, REMOTE_ADDR="10.1.0.50")
    assert_error(response, 429)


def test_anonymous_api_traffic_is_limited_per_ip(settings):
    settings.ACCOUNTS_ANONYMOUS_RATE = "3/m"
    client = APIClient()
    for _ in range(3):
        assert client.post("/api/v1/auth/verify", {"token": "x"}).status_code == 401
    response = client.post("/api/v1/auth/verify", {"token": "x"})
    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 1
    # Another address has its own bucket; an authenticated user is not throttled by it.
    assert APIClient().post("/api/v1/auth/verify", {"token": "x"}, REMOTE_ADDR="10.2.2.2").status_code == 401


def test_authenticated_traffic_is_not_counted_as_anonymous(make_user, client_for, settings):
    settings.ACCOUNTS_ANONYMOUS_RATE = "2/m"
    client = client_for(make_user())
    for _ in range(4):
        assert client.get("/api/v1/auth/me").status_code == 200


# --- Redis down -----------------------------------------------------------------


def test_login_fails_closed_with_503_when_redis_is_down(make_user, redis_down):
    make_user(username="jill")
    response = _login(APIClient(), "jill")
    assert_error(response, 503, "rate_limit_unavailable")
    assert not AuditEvent.objects.filter(action="auth.login_succeeded").exists()


def test_reset_fails_closed_with_503_when_redis_is_down(make_user, redis_down):
    make_user(username="kim", email="kim@campus.test")
    response = APIClient().post("/api/v1/auth/password/reset", {"email": "kim@campus.test"})
    assert_error(response, 503, "rate_limit_unavailable")
    assert mail.outbox == []


def test_anonymous_throttle_fails_open_when_redis_is_down(make_user, redis_down, settings):
    settings.ACCOUNTS_ANONYMOUS_RATE = "1/m"
    for _ in range(3):
        response = APIClient().post("/api/v1/auth/verify", {"token": "x"})
        assert_error(response, 401)


def test_authenticated_endpoints_work_while_redis_is_down(make_user, client_for, redis_down):
    user = make_user()
    assert client_for(user).get("/api/v1/auth/me").json()["username"] == user.username


def test_username_and_email_of_one_account_share_a_bucket(make_user):
    make_user(username="liam", email="liam@campus.test")
    for n in range(3):
        _login(APIClient(), "liam", "Wrong-Pass-000!", REMOTE_ADDR=f"10.5.0.{n}")
    for n in range(2):
        _login(APIClient(), "LIAM@campus.test", "Wrong-Pass-000!", REMOTE_ADDR=f"10.5.1.{n}")
    assert_error(_login(APIClient(), "liam@campus.test", REMOTE_ADDR="10.5.2.1"), 429)
