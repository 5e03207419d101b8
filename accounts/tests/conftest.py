from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_TEST_PASSWORD


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is `status` in the one error format (and `code`, if given)."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "details", "request_id"} <= set(body["error"])
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def login():
    """Logs `user` in through the API; returns the response body (access, refresh, user)."""

    def do(user, *, client: APIClient | None = None, password: str = DEFAULT_TEST_PASSWORD, **extra) -> dict:
        client = client or APIClient()
        response = client.post("/api/v1/auth/login", {"username": user.username, "password": password}, **extra)
        assert response.status_code == 200, response.content
        return response.json()

    return do


@pytest.fixture
def bearer():
    def make(access: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return client

    return make


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
