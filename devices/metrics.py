"""Prometheus metrics of the device fleet (exported at /metrics by django_prometheus)."""

from __future__ import annotations

from prometheus_client import Counter

HEARTBEATS_RECEIVED = Counter("campus_device_heartbeats_total", "Heartbeats accepted from devices.")
DEVICES_WENT_OFFLINE = Counter("campus_devices_went_offline_total", "Devices marked offline by the beat task.")
