"""Startup refusals: JWT signing key rules in production, and rotation without the blacklist app."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.checks import run_checks

from accounts.checks import BLACKLIST_APP, check_refresh_blacklist
from config.tests.fault_tools import PRODUCTION, run_with_production_settings

PROBE = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.SIMPLE_JWT['SIGNING_KEY'] != settings.SECRET_KEY)"
)


def test_production_loads_with_a_separate_jwt_key():
    result = run_with_production_settings(PROBE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize(
    ("jwt_signing_key", "message"),
    [
        ("", "JWT_SIGNING_KEY must be set"),  # empty counts as unset
        (PRODUCTION["SECRET_KEY"], "JWT_SIGNING_KEY must differ from SECRET_KEY"),
        ("too-short-key", "at least 32 characters"),
    ],
    ids=["missing", "equal-to-secret-key", "short"],
)
def test_production_with_a_bad_jwt_key_refuses_to_start(jwt_signing_key, message):
    result = run_with_production_settings(PROBE, JWT_SIGNING_KEY=jwt_signing_key)
    assert result.returncode != 0
    assert message in result.stderr


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
