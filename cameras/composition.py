"""Every extension point's functions, in one module: who provides what to whom.

A lower layer declares a point and calls it (config/extensions.py); this
module imports the providers and the points, so following an import answers
"who calls this?". It lives in cameras because cameras is the top app, the one
that may import every other (accounts, campus, attendance, devices) and config.
`CamerasConfig.ready()` runs `provide_all()` once per process (web, worker,
beat, commands); ready() runs once every app's models are loaded.
"""

from __future__ import annotations

from accounts import retention as accounts_retention
from attendance import services as attendance_services
from cameras import retention as camera_retention
from cameras import selectors as camera_selectors
from config import backups, health, retention, status
from devices import selectors as device_selectors
from devices import services as device_services

# /health/full's components (and `doctor`'s backups check reads the same describe_backups).
HEALTH_COMPONENTS = {
    "backups": backups.describe_backups,
    "cameras": camera_selectors.camera_health,
    "devices": device_selectors.fleet_status,
}

# What `manage.py purge` and the nightly `config.tasks.purge_expired` delete: the only
# schedule of any of them, so each runs once a night.
PURGERS = {
    "audit_events": accounts_retention.purge_audit_events,
    "camera_frames": camera_retention.purge_frames,
    "unknown_face_crops": camera_retention.purge_unknown_faces,
    "face_sightings": camera_retention.purge_sightings,
    "enrolment_photos": camera_retention.purge_enrolment_photos,
    "biometric_orphan_files": camera_retention.purge_orphan_files,
    "device_heartbeats": device_services.prune_heartbeats,
}

# Shown on the attendance dashboard and checked by `manage.py doctor`.
STATUS_SOURCES = {
    "cameras": camera_selectors.camera_status_counts,
    "devices": device_selectors.fleet_status,
}

# How long a room's cameras were healthy during a class: decides absent or unverified.
COVERAGE_PROVIDERS = {
    "cameras": camera_selectors.session_camera_coverage,
}


def provide_all() -> None:
    """Fills every extension point; idempotent."""
    health.components.provide(HEALTH_COMPONENTS)
    retention.purgers.provide(PURGERS)
    status.sources.provide(STATUS_SOURCES)
    attendance_services.coverage_providers.provide(COVERAGE_PROVIDERS)
