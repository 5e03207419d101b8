"""Startup refusals: JWT signing key rules in production, and rotation without the blacklist app."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.checks import run_checks

from accounts.checks import BLACKLIST_APP, check_refresh_blacklist

BASE_DIR = Path(__file__).resolve().parents[2]
SECRET = secrets.token_urlsafe(60)
PROBE = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.SIMPLE_JWT['SIGNING_KEY'] != settings.SECRET_KEY)"
)


def load_production_settings(**overrides: str) -> subprocess.CompletedProcess:
    """Imports the settings in a fresh interpreter with DEBUG=0 (empty values count as unset)."""
    env = dict(os.environ)
    env.update(
        DEBUG="0",
        SECRET_KEY=SECRET,
        JWT_SIGNING_KEY=secrets.token_urlsafe(48),
        FACE_ENCRYPTION_KEY="ZGV2LW9ubHktZmFjZS1rZXktMzItYnl0ZXMtbG9uZyE=",
        ALLOWED_HOSTS="campus.example.edu",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_production_loads_with_a_separate_jwt_key():
    result = load_production_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_production_without_a_jwt_key_refuses_to_start():
    result = load_production_settings(JWT_SIGNING_KEY="")
    assert result.returncode != 0
    assert "JWT_SIGNING_KEY must be set" in result.stderr


def test_production_with_the_jwt_key_equal_to_secret_key_refuses_to_start():
    result = load_production_settings(JWT_SIGNING_KEY=SECRET)
    assert result.returncode != 0
    assert "JWT_SIGNING_KEY must differ from SECRET_KEY" in result.stderr


def test_production_with_a_short_jwt_key_refuses_to_start():
    result = load_production_settings(JWT_SIGNING_KEY="too-short-key")
    assert result.returncode != 0
    assert "at least 32 characters" in result.stderr


def test_debug_derives_a_jwt_key_that_differs_from_secret_key():
    assert settings.SIMPLE_JWT["SIGNING_KEY"] != settings.SECRET_KEY


def test_rotation_with_blacklisting_needs_the_blacklist_app(monkeypatch):
    without = [app for app in settings.INSTALLED_APPS if app != BLACKLIST_APP]
    monkeypatch.setattr(settings, "INSTALLED_APPS", without)
    errors = check_refresh_blacklist()
    assert [error.id for error in errors] == ["accounts.E001"]
    # Registered with Django's checks, so `manage.py check`, migrate and runserver refuse.
    assert "accounts.E001" in [message.id for message in run_checks(tags=["security"])]


def test_no_error_when_the_blacklist_app_is_installed():
    assert BLACKLIST_APP in settings.INSTALLED_APPS
    assert check_refresh_blacklist() == []


@pytest.mark.parametrize("flag", ["ROTATE_REFRESH_TOKENS", "BLACKLIST_AFTER_ROTATION"])
def test_no_error_without_rotation_and_blacklisting(monkeypatch, flag):
    monkeypatch.setattr(settings, "INSTALLED_APPS", [a for a in settings.INSTALLED_APPS if a != BLACKLIST_APP])
    monkeypatch.setattr(settings, "SIMPLE_JWT", {**settings.SIMPLE_JWT, flag: False})
    assert check_refresh_blacklist() == []
