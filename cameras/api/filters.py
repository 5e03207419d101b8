"""FilterSets of the cameras API."""

from __future__ import annotations

from django_filters import rest_framework as filters

from config.filters import FilterSet, IdFilter

from ..choices import SightingOutcome
from ..models import Camera, FaceSighting


class CameraFilter(FilterSet):
    class Meta:
        model = Camera
        fields = ["room", "status", "source_kind", "enabled", "device"]


class FaceSightingFilter(FilterSet):
    camera = IdFilter(field_name="camera_id")
    room = IdFilter(field_name="room_id")
    student = IdFilter(field_name="student_id")
    session = IdFilter(field_name="session_id")
    outcome = filters.ChoiceFilter(choices=SightingOutcome.choices)

    class Meta:
        model = FaceSighting
        fields = ["camera", "room", "student", "session", "outcome", "needs_review", "visitor"]
