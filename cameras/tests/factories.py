"""Cameras factories; campus, attendance and devices ones come from their apps."""

from __future__ import annotations

import factory

from cameras.choices import CameraStatus, SourceKind
from cameras.models import Camera
from campus.tests.factories import RoomFactory


class CameraFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Camera

    name = factory.Sequence(lambda n: f"cam-{n}")
    room = factory.SubFactory(RoomFactory)
    source_kind = SourceKind.PUSH
    sample_interval_seconds = 1.0
    status = CameraStatus.OFFLINE
