"""System checks for settings that fail quietly when wrong (run by `manage.py check` and at startup)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from .celery import app


def time_is_utc(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    if not settings.USE_TZ:
        errors.append(checks.Error("USE_TZ must be True: every datetime is stored aware, in UTC.", id="config.E001"))
    if not app.conf.enable_utc or str(app.conf.timezone) != "UTC":
        errors.append(checks.Error("Celery must run in UTC (enable_utc, timezone='UTC').", id="config.E002"))
    if settings.TIME_ZONE != "UTC":
        errors.append(
            checks.Warning(
                f"TIME_ZONE is {settings.TIME_ZONE!r}; the schedule in config/schedule.py is written in UTC.",
                id="config.W001",
            )
        )
    return errors


def register() -> None:
    checks.register(time_is_utc)
