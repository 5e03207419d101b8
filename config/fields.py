"""Field and constraint shapes that many apps' models share, declared once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q


def acting_user(related_name: str = "+", *, blank: bool = True) -> models.ForeignKey[Any, Any]:
    """The person who did something to a row (created, marked, decided it). The row outlives
    them: deleting the user leaves NULL. `blank=False` where a form must name someone."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=blank, on_delete=models.SET_NULL, related_name=related_name
    )


def choice_check(field: str, choices: type[models.Choices], *, name: str) -> models.CheckConstraint:
    """The database refuses a `field` value outside `choices`, whichever code path writes it."""
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


def in_order(
    first: str, then: str, *, name: str, strictly: bool = False, unless_null: Sequence[str] = ()
) -> models.CheckConstraint:
    """The database refuses a row whose `then` comes before its `first` (or at it, `strictly`).
    A NULL in a field of `unless_null` (an open end, a time not seen yet) passes."""
    condition = Q()
    for field in unless_null:
        condition |= Q(**{f"{field}__isnull": True})
    condition |= Q(**{f"{then}__{'gt' if strictly else 'gte'}": F(first)})
    return models.CheckConstraint(condition=condition, name=name)
