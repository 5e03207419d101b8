"""Filter types every app's filtersets share."""

from __future__ import annotations

import django_filters as filters
from django import forms
from django.db import models
from django_filters.fields import MultipleChoiceField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.settings import api_settings


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


class StrictNullBooleanField(forms.NullBooleanField):
    """`true` or `false` (empty: not given). Django's field reads anything else as "not given",
    so `?has_face_consent=yes` silently listed everyone."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        # "True"/"False": what Django's test client sends for a Python bool.
        if value in (True, "true", "True"):
            return True
        if value in (False, "false", "False"):
            return False
        raise forms.ValidationError("Use true or false.", code="invalid")


@extend_schema_field(OpenApiTypes.BOOL)
class BooleanFilter(filters.BooleanFilter):
    field_class = StrictNullBooleanField


class EmptyMeansAnyChoiceField(MultipleChoiceField):
    """`?status=` is "not given", as for every other filter (django-filter's is a 400)."""

    def clean(self, value):
        return super().clean([item for item in value or [] if item != ""])


class MultipleChoiceFilter(filters.MultipleChoiceFilter):
    field_class = EmptyMeansAnyChoiceField


class FilterSet(filters.FilterSet):
    """Every app's base: a foreign key in `Meta.fields` filters by id (IdFilter: an unknown id
    matches nothing, as on the big lists), and a boolean refuses what is not one."""

    FILTER_DEFAULTS = {
        **filters.FilterSet.FILTER_DEFAULTS,
        models.ForeignKey: {"filter_class": IdFilter},
        models.OneToOneField: {"filter_class": IdFilter},
        models.BooleanField: {"filter_class": BooleanFilter},
    }


class FilterBackend(DjangoFilterBackend):
    """The same rules for a view's `filterset_fields`."""

    filterset_base = FilterSet
    # Parameters that are never filters. A request with no other one needs no filterset: none of
    # ours filters when not given, and building its form cost as much as a list's page query.
    NOT_FILTERS = frozenset(
        {"cursor", "page", "page_size", "format", api_settings.ORDERING_PARAM, api_settings.SEARCH_PARAM}
    )

    def filter_queryset(self, request, queryset, view):
        if self.NOT_FILTERS.issuperset(request.query_params):
            return queryset
        return super().filter_queryset(request, queryset, view)
