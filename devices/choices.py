"""Every status and kind in the devices app, one enumeration each."""

from django.db import models


class DeviceKind(models.TextChoices):
    EDGE = "edge", "Edge box"
    GATEWAY = "gateway", "Camera gateway"
    KIOSK = "kiosk", "Kiosk"
    SENSOR = "sensor", "Sensor"


class DeviceState(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"


class BundleChannel(models.TextChoices):
    STABLE = "stable", "Stable"
    BETA = "beta", "Beta"
    DEV = "dev", "Development"


class TargetSelector(models.TextChoices):
    LIST = "list", "Listed devices"
    GROUP = "group", "Device group"
    LABEL = "label", "Label"


class DeploymentState(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class TargetState(models.TextChoices):
    PENDING = "pending", "Pending"
    DOWNLOADING = "downloading", "Downloading"
    INSTALLING = "installing", "Installing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


TARGET_FINISHED = (TargetState.SUCCEEDED, TargetState.FAILED)
TARGET_IN_PROGRESS = (TargetState.PENDING, TargetState.DOWNLOADING, TargetState.INSTALLING)
