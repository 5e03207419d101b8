"""Health endpoints: live (process up), ready (dependencies), full (details, staff only).

Apps add their own component to /health/full with `register_component`, so
this module never imports them.
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

from accounts.permissions import IsStaffRole

logger = logging.getLogger("campus.health")

_components: dict[str, Callable[[], dict[str, Any]]] = {}


def register_component(name: str, describe: Callable[[], dict[str, Any]]) -> None:
    """Adds `name` to /health/full; `describe` returns a dict with at least `ok`."""
    _components[name] = describe


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
    from config.celery import app

    with app.connection_for_write() as conn:
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


@extend_schema(
    responses=inline_serializer(
        "HealthFull",
        {
            "status": serializers.CharField(),
            "dependencies": serializers.DictField(),
            "components": serializers.DictField(),
        },
    ),
    tags=["health"],
)
@api_view(["GET"])
@permission_classes([IsStaffRole])
def full(request) -> JsonResponse:
    healthy, report = dependency_report()
    components = {}
    for name, describe in _components.items():
        components[name] = _timed(describe)
    healthy = healthy and all(item["ok"] for item in components.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "dependencies": report, "components": components},
        status=200 if healthy else 503,
    )


@extend_schema(responses=inline_serializer("Ping", {"pong": serializers.BooleanField()}), tags=["health"])
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
@throttle_classes([])
def ping(request) -> JsonResponse:
    """The cheapest DRF endpoint: the framework's own ceiling in load benchmarks."""
    return JsonResponse({"pong": True})
