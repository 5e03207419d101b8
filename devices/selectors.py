"""Read queries of the devices app, shared by the API, admin, tasks and other apps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .choices import DeviceState, TargetState
from .models import Deployment, Device, Heartbeat, online_since


def devices_for_staff() -> QuerySet[Device]:
    return Device.objects.select_related("room", "group")


def deployments_with_progress() -> QuerySet[Deployment]:
    """Deployments with their target counts per state, in the same query."""
    counts = {f"targets_{state.value}": Count("targets", filter=Q(targets__state=state.value)) for state in TargetState}
    return (
        Deployment.objects.select_related("bundle", "group")
        .annotate(targets_total=Count("targets"), **counts)
        .order_by("-created_at", "-id")
    )


def heartbeat_history(device: Device) -> QuerySet[Heartbeat]:
    return Heartbeat.objects.filter(device=device).order_by("-received_at")


def fleet_summary(now: datetime | None = None) -> dict[str, Any]:
    """Online/offline counts and the versions in the field (enabled devices only)."""
    now = now or timezone.now()
    enabled = Device.objects.exclude(state=DeviceState.DISABLED)
    counts = Device.objects.aggregate(
        total=Count("id"),
        online=Count("id", filter=Q(last_heartbeat_at__gte=online_since(now)) & ~Q(state=DeviceState.DISABLED)),
        pending=Count("id", filter=Q(state=DeviceState.PENDING)),
        active=Count("id", filter=Q(state=DeviceState.ACTIVE)),
        disabled=Count("id", filter=Q(state=DeviceState.DISABLED)),
    )
    enabled_total = counts["total"] - counts["disabled"]

    def versions(field: str) -> list[dict[str, Any]]:
        rows = enabled.values(field).annotate(devices=Count("id")).order_by("-devices", field)
        return [{"version": row[field] or None, "devices": row["devices"]} for row in rows]

    return {
        "total": counts["total"],
        "online": counts["online"],
        "offline": enabled_total - counts["online"],
        "by_state": {"pending": counts["pending"], "active": counts["active"], "disabled": counts["disabled"]},
        "agent_versions": versions("agent_version"),
        "bundle_versions": versions("bundle_version"),
        "generated_at": now.isoformat(),
    }


def fleet_status() -> dict[str, int]:
    """The short form for a dashboard status source: `{"online": n, "total": m}`."""
    summary = fleet_summary()
    return {"online": summary["online"], "total": summary["total"] - summary["by_state"]["disabled"]}
