"""Serializer behaviour every app shares: unknown fields refused, relation values always present."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.utils import timezone
from rest_framework import serializers


def iso_datetime(value: dt.datetime | None, zone: dt.tzinfo | None = None) -> str | None:
    """What DRF's DateTimeField gives for an aware datetime (ISO 8601 in the current zone, UTC as
    "Z"), without its per-call checks: a list page holds hundreds (tests compare the two). A page
    passes the current `zone` once read: reading it costs more than the formatting."""
    if value is None:
        return None
    text = value.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class RefuseUnknownFieldsMixin:
    """A write naming a field the serializer does not have is a 400 that names it.

    DRF drops unknown keys silently, so a misspelt field (`source` for
    `source_kind`) used to create something other than what was asked.
    """

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
            # JSON types are kept: DRF's CharField would turn `"name": 0` into "0".
            mistyped = [
                name for name, field in self.fields.items()
                if name in data and not field.read_only and isinstance(field, serializers.CharField)
                and isinstance(data[name], (int, float))
            ]
            if mistyped:
                raise serializers.ValidationError({name: ["A string is required."] for name in mistyped})
            # And DRF's BooleanField would read `"enabled": 0` as false.
            numbers = [
                name for name, field in self.fields.items()
                if name in data and not field.read_only and isinstance(field, serializers.BooleanField)
                and is_number(data[name])
            ]
            if numbers:
                raise serializers.ValidationError({name: ["A boolean is required."] for name in numbers})
        return super().to_internal_value(data)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean only, where the field sits inside a value (a DictField's child)."""

    def to_internal_value(self, data):
        if is_number(data):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)


class StrictSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    pass


class StrictModelSerializer(RefuseUnknownFieldsMixin, serializers.ModelSerializer):
    pass


class RelatedValueField(serializers.CharField):
    """A read-only value across a nullable relation (`room.code`): null when the relation is empty.

    DRF's `default=None` is skipped in partial (PATCH) responses, which then lacked the field.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        for attr in self.source_attrs:
            if instance is None:
                return None
            instance = getattr(instance, attr)
        return instance
