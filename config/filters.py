"""Filter types every app's filtersets share."""

from __future__ import annotations

import django_filters as filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(filters.NumberFilter):
    """An id or a count: `?section=0.5` is a 400, as the schema's `integer` says (NumberFilter takes decimals)."""

    field_class = forms.IntegerField


class IdFilter(IntegerFilter):
    """A related row's id, matched as given.

    django-filter's default for a foreign key (ModelChoiceFilter) deep-copies its
    queryset on every request and reads the row to validate it: on the busy
    lists that cost more than the page itself. An unknown id matches nothing.
    """
