"""Filter types every app's filtersets share."""

from __future__ import annotations

import django_filters as filters
from django import forms


class IntegerFilter(filters.NumberFilter):
    """An id or a count: `?section=0.5` is a 400, as the schema's `integer` says (NumberFilter takes decimals)."""

    field_class = forms.IntegerField
