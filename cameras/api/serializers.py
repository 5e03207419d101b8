"""Serializers of the cameras API. Embeddings are never a field of any of them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from accounts.permissions import user_has
from campus.models import Room, Student
from config.serializers import StrictModelSerializer, StrictSerializer, iso_datetime

from ..choices import FrameState, SourceKind
from ..models import Camera, FaceEnrolment, FaceSighting, Frame, UnknownFace, UnknownFaceGroup
from ..redaction import redact


class CameraSerializer(StrictModelSerializer):
    room = serializers.PrimaryKeyRelatedField(queryset=Room.objects.all())
    # Write-only: a stored password is never shown, only whether there is one.
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False,
                                     max_length=300)
    username = serializers.CharField(required=False, allow_blank=True, max_length=150)
    url = serializers.CharField(required=False, allow_blank=True, max_length=500)
    has_password = serializers.BooleanField(read_only=True)

    class Meta:
        model = Camera
        fields = [
            "id", "name", "room", "source_kind", "url", "username", "password", "has_password",
            "sample_interval_seconds", "detect_max_side", "enabled", "device", "status", "status_changed_at",
            "last_error", "last_frame_at", "consecutive_failures", "created_at", "updated_at",
        ]
        read_only_fields = [
            "status", "status_changed_at", "last_error", "last_frame_at", "consecutive_failures",
            "created_at", "updated_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is not None and user_has(request.user, "manage_cameras"):
            # The stored query string is encrypted; its presence is all that is shown.
            data["url"] = redact(instance.url) + ("?***" if instance.has_url_query else "")
        else:
            # Stream URLs are for those who manage cameras; staff see the room and the status.
            data["url"], data["username"] = "", ""
        data["last_error"] = redact(instance.last_error)
        return data

    def validate_source_kind(self, value: str) -> str:
        if value not in SourceKind.values:
            raise serializers.ValidationError("Unknown source kind.")
        return value


class FramePushSerializer(StrictSerializer):
    image = serializers.FileField()
    captured_at = serializers.DateTimeField(required=False)


class FrameReceiptSerializer(StrictSerializer):
    """The push endpoint's reply (`frames.FrameReceipt`)."""

    frame = serializers.IntegerField(source="frame.pk", allow_null=True, read_only=True,
                                     help_text="The frame's id; null when the motion gate dropped it.")
    state = serializers.ChoiceField(choices=FrameState.choices, read_only=True)
    reason = serializers.CharField(read_only=True)
    duplicate = serializers.BooleanField(read_only=True)
    motion = serializers.FloatField(read_only=True, help_text="Fraction of the picture that changed (0..1).")


class FrameSerializer(StrictModelSerializer):
    class Meta:
        model = Frame
        fields = [
            "id", "camera", "captured_at", "source", "state", "reason", "attempts", "processed_at",
            "width", "height", "faces_detected", "motion", "created_at",
        ]
        read_only_fields = fields


class FaceEnrolmentSerializer(StrictModelSerializer):
    has_photo = serializers.SerializerMethodField()

    class Meta:
        model = FaceEnrolment
        fields = [
            "id", "student", "engine_name", "engine_version", "face_box", "face_size_px", "sharpness",
            "has_photo", "photo_delete_after", "created_by", "created_at",
        ]
        read_only_fields = fields

    def get_has_photo(self, obj) -> bool:
        return bool(obj.photo)


class EnrolmentUploadSerializer(StrictSerializer):
    image = serializers.FileField()
    replace = serializers.BooleanField(
        required=False, default=False,
        help_text="Delete the student's existing enrolments and enrol this photo instead (a deliberate change).",
    )


class FaceSightingSerializer(StrictModelSerializer):
    class Meta:
        model = FaceSighting
        fields = [
            "id", "frame", "camera", "room", "seen_at", "box", "student", "distance", "runner_up_distance",
            "match_reason", "tracked", "session", "record", "outcome", "visitor", "needs_review",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        # A model's __dict__ holds the same names as a `selectors.sighting_rows` row.
        return sighting_data(instance.__dict__, timezone.get_current_timezone())


def sighting_rows_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A page of `selectors.sighting_rows` as FaceSightingSerializer shows sightings: the list reads a
    page at a time of a year of them, with no model instances (a test compares the two)."""
    zone = timezone.get_current_timezone()
    return [sighting_data(row, zone) for row in rows]


def sighting_data(row: Mapping[str, Any], zone: dt.tzinfo) -> dict[str, Any]:
    return {
        "id": row["id"], "frame": row["frame_id"], "camera": row["camera_id"], "room": row["room_id"],
        "seen_at": iso_datetime(row["seen_at"], zone), "box": row["box"], "student": row["student_id"],
        "distance": _float(row["distance"]), "runner_up_distance": _float(row["runner_up_distance"]),
        "match_reason": row["match_reason"], "tracked": row["tracked"], "session": row["session_id"],
        "record": row["record_id"], "outcome": row["outcome"], "visitor": row["visitor"],
        "needs_review": row["needs_review"],
    }


def _float(value) -> float | None:
    return None if value is None else float(value)


class UnknownFaceSerializer(StrictModelSerializer):
    room = serializers.IntegerField(source="camera.room_id", read_only=True)
    box = serializers.JSONField(source="sighting.box", read_only=True)

    class Meta:
        model = UnknownFace
        fields = [
            "id", "camera", "room", "seen_at", "box", "group", "status", "assigned_student", "resolved_by",
            "resolved_at", "created_at",
        ]
        read_only_fields = fields


class UnknownFaceGroupSerializer(StrictModelSerializer):
    pending = serializers.IntegerField(read_only=True)

    class Meta:
        model = UnknownFaceGroup
        fields = ["id", "size", "pending", "last_seen_at", "created_at"]
        read_only_fields = fields


class AssignSerializer(StrictSerializer):
    student = serializers.PrimaryKeyRelatedField(queryset=Student.objects.all())
