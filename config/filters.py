"""Filters shared by the API's lists."""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """A related row's id, matched as given.

    django-filter's default for a foreign key (ModelChoiceFilter) deep-copies its
    queryset on every request and reads the row to validate it: on the busy
    lists that cost more than the page itself. An unknown id matches nothing.
    """

    field_class = forms.IntegerField
