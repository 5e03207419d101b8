"""Startup refusals for accounts' security settings."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

BLACKLIST_APP = "rest_framework_simplejwt.token_blacklist"


@register("security")
def check_refresh_blacklist(app_configs=None, **kwargs) -> list[Error]:
    """Rotation that blacklists needs the blacklist app, or a rotated refresh token stays usable."""
    jwt = getattr(settings, "SIMPLE_JWT", {})
    rotation_blacklists = jwt.get("ROTATE_REFRESH_TOKENS") and jwt.get("BLACKLIST_AFTER_ROTATION")
    if rotation_blacklists and BLACKLIST_APP not in settings.INSTALLED_APPS:
        return [
            Error(
                "Refresh-token rotation with blacklisting is on, but the blacklist app is not installed.",
                hint=f"Add {BLACKLIST_APP!r} to INSTALLED_APPS (or switch off rotation).",
                id="accounts.E001",
            )
        ]
    return []
