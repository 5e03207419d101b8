"""Prometheus metrics of the camera pipeline (exported at /metrics by django_prometheus)."""

from __future__ import annotations

from django.db import DatabaseError
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from .selectors import camera_status_counts

FRAMES_RECEIVED = Counter("campus_frames_received_total", "Frames accepted for processing.", ["source"])
FRAMES_DUPLICATE = Counter("campus_frames_duplicate_total", "Frames sent again (same bytes), not reprocessed.")
FRAMES_PROCESSED = Counter("campus_frames_processed_total", "Frames run through detection.")
FRAMES_SKIPPED = Counter("campus_frames_skipped_total", "Frames skipped before detection.", ["reason"])
FRAMES_FAILED = Counter("campus_frames_failed_total", "Frames given up on.", ["reason"])
FACES_DETECTED = Counter("campus_faces_detected_total", "Faces found in frames.")
FACES_RECOGNISED = Counter("campus_faces_recognised_total", "Faces matched to an enrolled student.")
FACES_UNKNOWN = Counter("campus_faces_unknown_total", "Faces not matched to anyone.")
FACES_TRACKED = Counter("campus_faces_tracked_total", "Faces identified by tracking, without a new embedding.")
STAGE_SECONDS = Histogram(
    "campus_frame_stage_seconds",
    "Time spent in each stage of frame processing.",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CAPTURE_FAILURES = Counter("campus_camera_capture_failures_total", "Failed reads from pulled cameras.", ["kind"])


class CameraStatusCollector:
    """`campus_cameras{status=...}` read from the database at scrape time, so every web process agrees."""

    def collect(self):
        family = GaugeMetricFamily("campus_cameras", "Enabled cameras by status.", labels=["status"])
        try:
            counts = camera_status_counts()
        except DatabaseError:
            return
        for status in ("online", "offline", "error"):
            family.add_metric([status], counts[status])
        yield family

    def describe(self):
        return [GaugeMetricFamily("campus_cameras", "Enabled cameras by status.", labels=["status"])]


_collector_registered = False


def register_collectors() -> None:
    global _collector_registered
    if not _collector_registered:
        REGISTRY.register(CameraStatusCollector())
        _collector_registered = True
