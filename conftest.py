"""Fixtures shared by every app's tests."""

from __future__ import annotations

import contextlib

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from cameras import recognition
from config.celery import app as celery_app


@pytest.fixture(scope="session", autouse=True)
def _end_leftover_test_db_sessions(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end sessions other threads left open (a live
    server's request thread keeps its pooled connection checked out), so the drop succeeds."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), contextlib.suppress(Exception), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Fast hashing for tests only; tests that check Argon2 set it back themselves.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    # A gallery this process loaded for an earlier test holds students that test's database
    # had; every app's tests start from the database, not from that memory.
    recognition.forget_gallery()
    yield
    # Rate-limit counters and cached summaries must not leak between tests.
    with contextlib.suppress(Exception):  # a test may have pointed the cache at a closed port
        cache.clear()


@pytest.fixture
def redis_down(settings):
    """Points the default cache at a closed port (django-redis connections are reset too)."""
    from django.core.cache import caches

    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    caches["default"].close()
    yield
    caches["default"].close()


@pytest.fixture
def ratelimit_cache_down(settings):
    """Only the rate limiter's cache is unreachable (a closed port); every other cache use works."""
    from django.core.cache import caches

    settings.CACHES = {
        **settings.CACHES,
        "ratelimit-down": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"},
    }
    settings.RATELIMIT_USE_CACHE = "ratelimit-down"
    yield
    caches["ratelimit-down"].close()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def bearer_client(user) -> APIClient:
    """An API client that presents a real access token for `user`."""
    client = APIClient()
    access = RefreshToken.for_user(user).access_token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


@pytest.fixture
def client_for():
    return bearer_client


@pytest.fixture
def make_user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory


def _user_with_role(role: str):
    """A fixture `<role>_user`: one user of that role, named `<role>1`."""

    @pytest.fixture(name=f"{role}_user")
    def user(make_user):
        return make_user(role=role, username=f"{role}1")

    return user


admin_user = _user_with_role("admin")
staff_user = _user_with_role("staff")
student_user = _user_with_role("student")
guest_user = _user_with_role("guest")
