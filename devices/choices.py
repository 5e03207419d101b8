"""Every status and kind in the devices app, one enumeration each."""

from django.db import models


class DeviceKind(models.TextChoices):
    """What an edge device is for."""

    EDGE = "edge", "Edge box"
    GATEWAY = "gateway", "Camera gateway"
    KIOSK = "kiosk"
    SENSOR = "sensor"


class DeviceState(models.TextChoices):
    """Pending until it registers or gets a credential, then active; a disabled device may do neither."""

    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"


class BundleChannel(models.TextChoices):
    """The release channel a bundle is published on."""

    STABLE = "stable"
    BETA = "beta"
    DEV = "dev", "Development"


class TargetSelector(models.TextChoices):
    """How a deployment chooses its devices."""

    LIST = "list", "Listed devices"
    GROUP = "group", "Device group"
    LABEL = "label"


class DeploymentState(models.TextChoices):
    """A rollout: drafted, run batch by batch, paused on failures, then completed, failed or cancelled."""

    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TargetState(models.TextChoices):
    """One device's part in a deployment."""

    PENDING = "pending"
    DOWNLOADING = "downloading"
    INSTALLING = "installing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


TARGET_FINISHED = (TargetState.SUCCEEDED, TargetState.FAILED)
TARGET_IN_PROGRESS = (TargetState.PENDING, TargetState.DOWNLOADING, TargetState.INSTALLING)
