"""The admin sign-in form and the API login share one per-address and one per-account bucket."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-Horse-9-Battery"
WRONG = "Wrong-Pass-000!"


def admin_post(username: str, password: str, *, client: Client | None = None, **extra):
    client = client or Client()
    return client.post("/admin/login/", {"username": username, "password": password}, **extra)


def test_sixth_admin_form_attempt_is_429_even_with_the_right_password(make_user):
    make_user(role="admin", username="root")
    for _ in range(5):
        assert admin_post("root", WRONG).status_code == 200  # the form again, with its error
    response = admin_post("root", PASSWORD)
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "_auth_user_id" not in Client().session


def test_api_failures_count_against_the_admin_form(make_user):
    make_user(role="admin", username="root")
    for n in range(5):
        APIClient().post("/api/v1/auth/login", {"username": "root", "password": WRONG}, REMOTE_ADDR=f"10.0.0.{n}")
    assert admin_post("root", PASSWORD, REMOTE_ADDR="10.0.1.1").status_code == 429


def test_admin_form_failures_count_against_the_api_per_address(make_user):
    make_user(role="admin", username="root")
    for n in range(5):
        admin_post(f"nobody{n}", WRONG, REMOTE_ADDR="10.7.7.7")
    body = {"username": "root", "password": PASSWORD}
    response = APIClient().post("/api/v1/auth/login", body, REMOTE_ADDR="10.7.7.7")
    assert response.status_code == 429


def test_a_correct_admin_sign_in_within_the_limit_works(make_user):
    make_user(role="admin", username="root")
    client = Client()
    response = admin_post("root", PASSWORD, client=client)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_form_fails_closed_with_redis_down(make_user, redis_down):
    make_user(role="admin", username="root")
    response = admin_post("root", PASSWORD)
    assert response.status_code == 503
    assert "unavailable" in response.content.decode()
    assert response["Retry-After"]
