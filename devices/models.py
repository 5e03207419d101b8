"""Edge devices, their credentials, heartbeats, software bundles and deployments."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from config.fields import acting_user
from config.models import TimeStampedModel

from .choices import BundleChannel, DeploymentState, DeviceKind, DeviceState, TargetSelector, TargetState


class DeviceGroup(TimeStampedModel):
    """A named set of devices sharing config overrides (e.g. "library-entrances")."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    config_overrides = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DeviceQuerySet(models.QuerySet):
    def online(self, now=None):
        return self.filter(last_heartbeat_at__gte=online_since(now))

    def offline(self, now=None):
        return self.exclude(last_heartbeat_at__gte=online_since(now))


def online_since(now: datetime | None = None) -> datetime:
    """The oldest heartbeat time that still counts as online."""
    return (now or timezone.now()) - timedelta(seconds=settings.DEVICE_ONLINE_WINDOW_SECONDS)




class Readings(models.Model):
    """What a device measures of itself: each heartbeat carries them, and the device keeps the last."""

    uptime_seconds = models.BigIntegerField(null=True, blank=True)
    cpu_percent = models.FloatField(null=True, blank=True)
    memory_percent = models.FloatField(null=True, blank=True)
    disk_percent = models.FloatField(null=True, blank=True)
    temperature_c = models.FloatField(null=True, blank=True)

    class Meta:
        abstract = True


READING_FIELDS = tuple(field.name for field in Readings._meta.fields)

# What the system and the device itself write: read-only for people, in the API and the admin.
DEVICE_SYSTEM_FIELDS = (
    "state",
    "registered_at",
    "disabled_at",
    "last_heartbeat_at",
    "last_ip",
    "agent_version",
    "bundle_version",
    "hardware_info",
    *READING_FIELDS,
    "last_status",
    "created_at",
    "updated_at",
)


class Device(Readings, TimeStampedModel):
    serial = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=120, blank=True)
    kind = models.CharField(max_length=20, choices=DeviceKind.choices, default=DeviceKind.EDGE)
    room = models.ForeignKey("campus.Room", null=True, blank=True, on_delete=models.SET_NULL, related_name="devices")
    group = models.ForeignKey(DeviceGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices")
    labels = models.JSONField(default=list, blank=True)
    config_overrides = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=DeviceState.choices, default=DeviceState.PENDING, db_index=True)
    registered_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)

    # What the device last told us about itself.
    last_heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    agent_version = models.CharField(max_length=40, blank=True, db_index=True)
    bundle_version = models.CharField(max_length=40, blank=True)
    hardware_info = models.JSONField(default=dict, blank=True)
    # The readings (uptime, cpu, memory, disk, temperature) are the last heartbeat's.
    last_status = models.JSONField(default=dict, blank=True)
    # Whether the fleet last knew it as online: set by heartbeats, cleared by
    # the beat task, so "went offline" is logged once per transition.
    marked_online = models.BooleanField(default=False)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["serial"]
        constraints = [
            models.CheckConstraint(condition=~Q(serial=""), name="device_serial_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name or self.serial

    @property
    def is_online(self) -> bool:
        return self.last_heartbeat_at is not None and self.last_heartbeat_at >= online_since()


class DeviceCredential(models.Model):
    """A device's secret. Only `prefix` is stored in clear; the rest is a keyed hash."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="credentials")
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["device"], condition=Q(revoked_at__isnull=True), name="one_live_credential_per_device"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({'revoked' if self.revoked_at else 'live'})"


class NewestFirst(TimeStampedModel):
    """What people make here (registration tokens, bundles, deployments): listed newest first."""

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class RegistrationToken(NewestFirst):
    """Made by an admin; lets new devices register themselves. Hashed like credentials."""

    label = models.CharField(max_length=120, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    room = models.ForeignKey("campus.Room", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    group = models.ForeignKey(DeviceGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = acting_user()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(NewestFirst.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(max_uses__gte=1), name="regtoken_max_uses_positive"),
            models.CheckConstraint(condition=Q(uses__lte=F("max_uses")), name="regtoken_uses_within_max"),
        ]

    def __str__(self) -> str:
        return self.label or f"token {self.prefix}…"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now and self.uses < self.max_uses


class Heartbeat(Readings):
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="heartbeats")
    received_at = models.DateTimeField(db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    agent_version = models.CharField(max_length=40, blank=True)
    bundle_version = models.CharField(max_length=40, blank=True)
    status = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["device", "-received_at"], name="heartbeat_device_time")]

    def __str__(self) -> str:
        return f"{self.device_id} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class Bundle(NewestFirst):
    """A software release for the devices. `sha256` and `size_bytes` are computed on upload."""

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=40)
    file = models.FileField(upload_to="device_bundles/%Y/%m/")
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    channel = models.CharField(max_length=10, choices=BundleChannel.choices, default=BundleChannel.STABLE)
    notes = models.TextField(blank=True)
    min_agent_version = models.CharField(max_length=40, blank=True)
    uploaded_by = acting_user()

    class Meta(NewestFirst.Meta):
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="bundle_name_version_unique")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class Deployment(NewestFirst):
    """A bundle rolled out to a set of devices in batches."""

    name = models.CharField(max_length=120, blank=True)
    bundle = models.ForeignKey(Bundle, on_delete=models.PROTECT, related_name="deployments")
    selector = models.CharField(max_length=10, choices=TargetSelector.choices, default=TargetSelector.LIST)
    group = models.ForeignKey(DeviceGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    label = models.CharField(max_length=60, blank=True)
    state = models.CharField(
        max_length=10, choices=DeploymentState.choices, default=DeploymentState.DRAFT, db_index=True
    )
    batch_size = models.PositiveIntegerField(default=10)
    # Percentage of failed targets among those released that pauses the rollout.
    failure_threshold_percent = models.PositiveSmallIntegerField(default=20)
    current_batch = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    state_reason = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = acting_user()

    class Meta(NewestFirst.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(batch_size__gte=1), name="deployment_batch_size_positive"),
            models.CheckConstraint(
                condition=Q(failure_threshold_percent__lte=100), name="deployment_threshold_percent"
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"deployment {self.pk} of {self.bundle_id}"


class DeploymentTarget(models.Model):
    """One device within a deployment, and how far it got."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="targets")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="deployment_targets")
    batch = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=TargetState.choices, default=TargetState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["deployment_id", "batch", "id"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "device"], name="deployment_target_unique_device"),
        ]
        indexes = [
            # Heartbeats ask "what is pending for me": a small partial index.
            models.Index(
                fields=["device"],
                condition=Q(state__in=["pending", "downloading", "installing"]),
                name="deptarget_open_by_device",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.device_id} in {self.deployment_id}: {self.state}"
