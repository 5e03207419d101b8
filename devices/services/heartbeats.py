"""Heartbeats and online state: record (rate-limited per device), mark offline, prune."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from config.ratelimits import Outage, RateLimit

from ..metrics import DEVICES_WENT_OFFLINE, HEARTBEATS_RECEIVED
from ..models import READING_FIELDS, DeploymentTarget, Device, Heartbeat, online_since
from .config import config_version
from .deployments import any_running_deployment, open_target_for

logger = logging.getLogger("campus.devices")


# Heartbeats are telemetry and fail open: refusing every device's heartbeat while the
# cache is down would mark the whole fleet offline for a cache outage.
HEARTBEAT_LIMIT = RateLimit(name="heartbeat", on_outage=Outage.FAIL_OPEN)


def check_heartbeat_rate(device: Device) -> None:
    """At most DEVICE_HEARTBEAT_MAX_PER_MINUTE per device per minute; 429 with Retry-After beyond it."""
    limit = settings.DEVICE_HEARTBEAT_MAX_PER_MINUTE
    message = f"At most {limit} heartbeats a minute per device."
    HEARTBEAT_LIMIT.enforce_per_minute("devices.heartbeat", f"device:{device.pk}", limit, message=message)




@dataclass(frozen=True)
class HeartbeatResult:
    heartbeat: Heartbeat
    config_version: str
    target: DeploymentTarget | None


def record_heartbeat(*, device: Device, ip: str | None = None, data: dict[str, Any]) -> HeartbeatResult:
    """Stores a heartbeat, copies its values onto the device and marks it online.

    `data` holds validated values (see the heartbeat serializer); rate-limited per device.
    """
    check_heartbeat_rate(device)
    now = timezone.now()
    values = {name: data.get(name) for name in READING_FIELDS}
    agent_version = data.get("agent_version") or device.agent_version
    bundle_version = data.get("bundle_version") or device.bundle_version
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Telemetry: losing the last moment of heartbeats in a database crash is
            # harmless, and not waiting for the WAL flush halves a heartbeat's time.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        heartbeat = Heartbeat.objects.create(
            device=device,
            received_at=now,
            ip=ip,
            status=data.get("status") or {},
            agent_version=agent_version,
            bundle_version=bundle_version,
            **values,
        )
        # One UPDATE, no read-modify-write: concurrent heartbeats cannot lose a field.
        Device.objects.filter(pk=device.pk).update(
            last_heartbeat_at=now,
            last_ip=ip,
            marked_online=True,
            last_status=heartbeat.status,
            agent_version=agent_version,
            bundle_version=bundle_version,
            **values,
        )
    was_online = device.marked_online
    device.last_heartbeat_at, device.marked_online = now, True
    if not was_online:
        logger.info("device online", extra={"event": "device_online", "device_id": device.pk, "serial": device.serial})
    HEARTBEATS_RECEIVED.inc()
    target = open_target_for(device) if any_running_deployment() else None
    return HeartbeatResult(heartbeat=heartbeat, config_version=config_version(device), target=target)


def mark_offline_devices(*, now: datetime | None = None) -> list[int]:
    """Marks devices without a recent heartbeat offline; logs and counts each one once."""
    since = online_since(now)
    stale = Device.objects.filter(marked_online=True).filter(
        Q(last_heartbeat_at__lt=since) | Q(last_heartbeat_at__isnull=True)
    )
    went_offline = []
    for device_id, serial, last_seen in stale.values_list("id", "serial", "last_heartbeat_at"):
        # Conditional UPDATE: a heartbeat that lands meanwhile keeps the device online,
        # and a second run of the task finds nothing to do.
        changed = (
            Device.objects.filter(pk=device_id, marked_online=True)
            .filter(Q(last_heartbeat_at__lt=since) | Q(last_heartbeat_at__isnull=True))
            .update(marked_online=False)
        )
        if changed:
            went_offline.append(device_id)
            DEVICES_WENT_OFFLINE.inc()
            logger.warning(
                "device offline",
                extra={
                    "event": "device_offline",
                    "device_id": device_id,
                    "serial": serial,
                    "last_heartbeat_at": last_seen.isoformat() if last_seen else None,
                },
            )
    return went_offline


def prune_heartbeats(*, now: datetime, dry_run: bool = False) -> int:
    """Deletes heartbeats older than DEVICE_HEARTBEAT_RETENTION_DAYS (a retention purger)."""
    cutoff = now - timedelta(days=settings.DEVICE_HEARTBEAT_RETENTION_DAYS)
    old = Heartbeat.objects.filter(received_at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted = 0
    while True:  # in chunks, so a large backlog never holds one huge transaction
        ids = list(old.values_list("id", flat=True)[:5000])
        if not ids:
            return deleted
        deleted += Heartbeat.objects.filter(id__in=ids).delete()[0]
