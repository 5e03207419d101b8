"""Every status and kind in the devices app, one enumeration each."""

from django.db import models


class DeviceKind(models.TextChoices):
    EDGE = "edge", "Edge box"
    GATEWAY = "gateway", "Camera gateway"
    KIOSK = "kiosk"
    SENSOR = "sensor"


class DeviceState(models.TextChoices):
    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"


class BundleChannel(models.TextChoices):
    STABLE = "stable"
    BETA = "beta"
    DEV = "dev", "Development"


class TargetSelector(models.TextChoices):
    LIST = "list", "Listed devices"
    GROUP = "group", "Device group"
    LABEL = "label"


class DeploymentState(models.TextChoices):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TargetState(models.TextChoices):
    PENDING = "pending"
    DOWNLOADING = "downloading"
    INSTALLING = "installing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


TARGET_FINISHED = (TargetState.SUCCEEDED, TargetState.FAILED)
TARGET_IN_PROGRESS = (TargetState.PENDING, TargetState.DOWNLOADING, TargetState.INSTALLING)
