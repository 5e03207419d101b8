"""Health endpoints: live (process up), ready (dependencies), full (details, staff only).

The components of /health/full (backups, cameras, devices) are what the
composition provides to `components`, so this module never imports the apps.
The staff-only `full` view is served by `cameras.health`, which may know
accounts' roles; this module gives it `full_report()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny

from .celery import app as celery_app
from .extensions import ExtensionPoint

logger = logging.getLogger("campus.health")

# `describe() -> dict` with at least `ok`, shown under its name in /health/full.
components: ExtensionPoint[Callable[[], dict[str, Any]]] = ExtensionPoint("health components")


def _timed(check: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        extra = check() or {}
        result = {"ok": True, **extra}
    except Exception as exc:  # each dependency's failure is reported, not raised
        logger.warning("health check failed", extra={"error": str(exc)})
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_cache() -> dict[str, Any]:
    key = "health:ping"
    cache.set(key, "pong", 10)
    if cache.get(key) != "pong":
        raise RuntimeError("cache did not return the value just written")
    return {"backend": type(cache).__name__}


def check_broker() -> dict[str, Any]:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
        return {"transport": conn.transport_cls if isinstance(conn.transport_cls, str) else conn.transport.driver_type}


DEPENDENCIES: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


def dependency_report() -> tuple[bool, dict[str, dict[str, Any]]]:
    report = {name: _timed(check) for name, check in DEPENDENCIES.items()}
    return all(item["ok"] for item in report.values()), report


def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def ready(request: HttpRequest) -> JsonResponse:
    healthy, report = dependency_report()
    if healthy:
        return JsonResponse({"status": "ok", "checks": dict.fromkeys(report, "ok")})
    failed = sorted(name for name, item in report.items() if not item["ok"])
    return JsonResponse(
        {
            "status": "unavailable",
            "failed": failed,
            "checks": {k: ("ok" if v["ok"] else "failed") for k, v in report.items()},
        },
        status=503,
    )


def full_report() -> tuple[bool, dict[str, Any]]:
    """Dependencies and every provided component, for /health/full."""
    healthy, report = dependency_report()
    described = {name: _timed(describe) for name, describe in components.entries().items()}
    healthy = healthy and all(item["ok"] for item in described.values())
    return healthy, {"status": "ok" if healthy else "degraded", "dependencies": report, "components": described}


@extend_schema(responses=inline_serializer("Ping", {"pong": serializers.BooleanField()}), tags=["health"])
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([])
def ping(request) -> JsonResponse:
    """The cheapest DRF endpoint: the framework's own ceiling in load benchmarks."""
    return JsonResponse({"pong": True})
