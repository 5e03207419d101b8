"""Field and constraint shapes that many apps' models share, declared once."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


def acting_user(related_name: str = "+", *, blank: bool = True) -> models.ForeignKey[Any, Any]:
    """The person who did something to a row (created, marked, decided it). The row outlives
    them: deleting the user leaves NULL. `blank=False` where a form must name someone."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=blank, on_delete=models.SET_NULL, related_name=related_name
    )


def choice_check(field: str, choices: type[models.Choices], *, name: str) -> models.CheckConstraint:
    """The database refuses a `field` value outside `choices`, whichever code path writes it."""
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)
