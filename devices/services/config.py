"""A device's config: global defaults, then its group's overrides, then its own; versioned by hash."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import cache

from ..models import Device

# A heartbeat must stay cheap: the config version it reports is cached briefly.
CONFIG_VERSION_TTL = 60


def config_version(device: Device) -> str:
    """The version of the device's config, cached under the device's and group's `updated_at`.

    Edits to device or group overrides change the key, so they show at once; a
    camera bound or unbound shows within CONFIG_VERSION_TTL seconds.
    """
    group_stamp = device.group.updated_at.timestamp() if device.group is not None else 0
    key = f"devices:config-version:{device.pk}:{device.updated_at.timestamp()}:{device.group_id}:{group_stamp}"
    version: str | None = cache.get(key)
    if version is None:
        version = device_config(device)[1]
        cache.set(key, version, CONFIG_VERSION_TTL)
    return version


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _bound_camera_ids(device: Device) -> list[int]:
    """Ids of the cameras bound to the device (cameras holds the FK; devices never imports it)."""
    if not apps.is_installed("cameras") or not hasattr(device, "cameras"):
        return []
    return sorted(device.cameras.values_list("id", flat=True))


def device_config(device: Device) -> tuple[dict[str, Any], str]:
    """Global defaults, then the group's overrides, then the device's: (document, version).

    `cameras` lists the cameras bound to the device, so it knows where to push frames.

    The version is a hash of the merged document, so it changes exactly when
    the content does and serves as the ETag.
    """
    merged = _merge(settings.DEVICE_CONFIG_DEFAULTS, device.group.config_overrides if device.group is not None else {})
    merged = _merge(merged, device.config_overrides)
    merged["cameras"] = _bound_camera_ids(device)
    canonical = json.dumps(merged, sort_keys=True, separators=(",", ":"))
    return merged, hashlib.sha256(canonical.encode()).hexdigest()[:16]
