"""Input validation and output shapes for the device and staff APIs."""

from __future__ import annotations

import json

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.serializers import RelatedValueField, StrictModelSerializer, StrictSerializer

from ..choices import BundleChannel, DeviceKind, TargetSelector, TargetState
from ..models import (
    DEVICE_SYSTEM_FIELDS,
    Bundle,
    Deployment,
    DeploymentTarget,
    Device,
    DeviceGroup,
    Heartbeat,
    RegistrationToken,
)

# --- Device API --------------------------------------------------------------


def _json_object_size_limit(value, limit: int = 16_384):
    if len(json.dumps(value)) > limit:
        raise serializers.ValidationError(f"At most {limit} bytes of JSON.")
    return value


class RegisterInput(StrictSerializer):
    token = serializers.CharField(max_length=200)
    serial = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=DeviceKind.choices, required=False)
    agent_version = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    bundle_version = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    hardware_info = serializers.JSONField(required=False)
    # Re-registering a serial that has a live credential needs that credential.
    current_credential = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate_serial(self, value: str) -> str:
        value = value.strip()
        if not value or not all(ch.isalnum() or ch in "-_.:" for ch in value):
            raise serializers.ValidationError("Letters, digits and - _ . : only.")
        return value

    def validate_hardware_info(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return _json_object_size_limit(value)


class HeartbeatInput(StrictSerializer):
    uptime_seconds = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    cpu_percent = serializers.FloatField(min_value=0, max_value=100, required=False, allow_null=True)
    memory_percent = serializers.FloatField(min_value=0, max_value=100, required=False, allow_null=True)
    disk_percent = serializers.FloatField(min_value=0, max_value=100, required=False, allow_null=True)
    temperature_c = serializers.FloatField(min_value=-60, max_value=150, required=False, allow_null=True)
    agent_version = serializers.CharField(max_length=40, required=False, allow_blank=True)
    bundle_version = serializers.CharField(max_length=40, required=False, allow_blank=True)
    status = serializers.JSONField(required=False)

    def validate_status(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return _json_object_size_limit(value)


class TargetStatusInput(StrictSerializer):
    state = serializers.ChoiceField(
        choices=[TargetState.DOWNLOADING, TargetState.INSTALLING, TargetState.SUCCEEDED, TargetState.FAILED]
    )
    error = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


def target_offer(target: DeploymentTarget | None, request) -> dict | None:
    """What a heartbeat tells a device about the work waiting for it."""
    if target is None:
        return None
    bundle = target.deployment.bundle
    return {
        "target_id": target.pk,
        "deployment_id": target.deployment_id,
        "state": target.state,
        "attempts": target.attempts,
        "bundle": {
            "name": bundle.name,
            "version": bundle.version,
            "sha256": bundle.sha256,
            "size_bytes": bundle.size_bytes,
            "min_agent_version": bundle.min_agent_version,
            "download_url": request.build_absolute_uri(reverse("device-target-bundle", args=[target.pk])),
        },
    }


# --- Staff API ---------------------------------------------------------------


# The schema said "any JSON" (and nullable) where the API takes only an object or a list of labels.
@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    pass


@extend_schema_field({"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 60}})
class LabelsField(serializers.JSONField):
    pass


class DeviceGroupSerializer(StrictModelSerializer):
    config_overrides = JSONObjectField(required=False)

    class Meta:
        model = DeviceGroup
        fields = ["id", "name", "description", "config_overrides", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_config_overrides(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return _json_object_size_limit(value)


class DeviceSerializer(StrictModelSerializer):
    is_online = serializers.BooleanField(read_only=True)
    room_code = RelatedValueField(source="room.code")
    group_name = RelatedValueField(source="group.name")
    labels = LabelsField(required=False)
    config_overrides = JSONObjectField(required=False)

    class Meta:
        model = Device
        fields = [
            "id",
            "serial",
            "name",
            "kind",
            "room",
            "room_code",
            "group",
            "group_name",
            "labels",
            "config_overrides",
            "is_online",
            *DEVICE_SYSTEM_FIELDS,
        ]
        read_only_fields = ["id", *DEVICE_SYSTEM_FIELDS]

    def validate_labels(self, value):
        if not isinstance(value, list) or not all(isinstance(item, str) and 0 < len(item) <= 60 for item in value):
            raise serializers.ValidationError("Must be a list of short strings.")
        return sorted(set(value))

    def validate_config_overrides(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return _json_object_size_limit(value)


class HeartbeatSerializer(StrictModelSerializer):
    class Meta:
        model = Heartbeat
        fields = [
            "id",
            "received_at",
            "ip",
            "uptime_seconds",
            "cpu_percent",
            "memory_percent",
            "disk_percent",
            "temperature_c",
            "agent_version",
            "bundle_version",
            "status",
        ]


class RegistrationTokenSerializer(StrictModelSerializer):
    is_usable = serializers.SerializerMethodField()

    class Meta:
        model = RegistrationToken
        fields = [
            "id",
            "label",
            "prefix",
            "expires_at",
            "max_uses",
            "uses",
            "room",
            "group",
            "revoked_at",
            "is_usable",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "prefix", "uses", "revoked_at", "created_by", "created_at"]
        # The bounds in the schema too (validate_max_uses alone left them out).
        extra_kwargs = {"expires_at": {"required": False}, "max_uses": {"min_value": 1, "max_value": 100_000}}

    def get_is_usable(self, token: RegistrationToken) -> bool:
        return token.is_usable()

    def validate_max_uses(self, value: int) -> int:
        if value < 1 or value > 100_000:
            raise serializers.ValidationError("Between 1 and 100000.")
        return value


class BundleSerializer(StrictModelSerializer):
    class Meta:
        model = Bundle
        fields = [
            "id",
            "name",
            "version",
            "channel",
            "notes",
            "min_agent_version",
            "size_bytes",
            "sha256",
            "uploaded_by",
            "created_at",
        ]
        read_only_fields = ["id", "name", "version", "size_bytes", "sha256", "uploaded_by", "created_at"]


class BundleUploadInput(StrictSerializer):
    file = serializers.FileField(allow_empty_file=False)
    name = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    version = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,39}$")
    channel = serializers.ChoiceField(choices=BundleChannel.choices, default=BundleChannel.STABLE)
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    min_agent_version = serializers.CharField(required=False, allow_blank=True, default="", max_length=40)


class DeploymentSerializer(StrictModelSerializer):
    bundle_name = serializers.CharField(source="bundle.name", read_only=True)
    bundle_version = serializers.CharField(source="bundle.version", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [
            "id",
            "name",
            "bundle",
            "bundle_name",
            "bundle_version",
            "selector",
            "group",
            "label",
            "state",
            "state_reason",
            "batch_size",
            "failure_threshold_percent",
            "max_attempts",
            "current_batch",
            "progress",
            "started_at",
            "finished_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields

    def get_progress(self, deployment: Deployment) -> dict:
        if not hasattr(deployment, "targets_total"):
            return {}
        progress = {"total": deployment.targets_total}
        for state in TargetState:
            progress[state.value] = getattr(deployment, f"targets_{state.value}")
        return progress


class DeploymentCreateInput(StrictSerializer):
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    bundle = serializers.PrimaryKeyRelatedField(queryset=Bundle.objects.all())
    selector = serializers.ChoiceField(choices=TargetSelector.choices)
    device_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=10_000)
    group = serializers.PrimaryKeyRelatedField(queryset=DeviceGroup.objects.all(), required=False, allow_null=True)
    label = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    batch_size = serializers.IntegerField(min_value=1, max_value=10_000, default=10)
    failure_threshold_percent = serializers.IntegerField(min_value=0, max_value=100, default=20)
    max_attempts = serializers.IntegerField(min_value=1, max_value=20, default=3)

    def validate(self, attrs):
        if attrs["selector"] == TargetSelector.LIST and not attrs.get("device_ids"):
            raise serializers.ValidationError({"device_ids": ["A list deployment needs device ids."]})
        return attrs


class DeploymentTargetSerializer(StrictModelSerializer):
    serial = serializers.CharField(source="device.serial", read_only=True)

    class Meta:
        model = DeploymentTarget
        fields = ["id", "device", "serial", "batch", "state", "attempts", "last_error", "updated_at", "finished_at"]
        read_only_fields = fields
