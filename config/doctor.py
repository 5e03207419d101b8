"""`manage.py doctor`: one pass over everything the system needs, as a report.

Each check returns a `Finding`; `FAIL` makes the command exit non-zero,
`WARN` is shown but does not, `SKIP` says why a check could not apply.
The apps' checks are their status sources (`config.status.sources`: cameras,
devices), the ones the dashboard shows, provided by the composition.
"""

from __future__ import annotations

import importlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django_celery_beat.models import PeriodicTask

from . import health, status
from .backups import describe_backups
from .beat import last_heartbeat
from .celery import app
from .schedule import PERIODIC_JOBS

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"


@dataclass
class Finding:
    name: str
    status: str
    detail: str
    duration_ms: float = 0.0


def _from_health(check: Callable[[], dict]) -> tuple[str, str]:
    info = check() or {}
    return OK, ", ".join(f"{key}={value}" for key, value in info.items()) or "answered"


def check_database() -> tuple[str, str]:
    return _from_health(health.check_database)


def check_cache() -> tuple[str, str]:
    return _from_health(health.check_cache)


def check_broker() -> tuple[str, str]:
    return _from_health(health.check_broker)


def check_workers() -> tuple[str, str]:
    replies = app.control.inspect(timeout=settings.DOCTOR_WORKER_PING_TIMEOUT).ping() or {}
    if not replies:
        return FAIL, f"no worker answered a ping within {settings.DOCTOR_WORKER_PING_TIMEOUT}s"
    return OK, f"{len(replies)} worker(s): {', '.join(sorted(replies))}"


def check_beat() -> tuple[str, str]:
    heartbeat = last_heartbeat()
    if heartbeat is None:
        return FAIL, "no beat heartbeat: celery beat is not running (exactly one must run)"
    if heartbeat["age_seconds"] > settings.BEAT_HEARTBEAT_STALE_SECONDS:
        age, holder = heartbeat["age_seconds"], heartbeat["holder"]
        return FAIL, f"last beat heartbeat {age}s ago from {holder}: beat is stuck or dead"
    return OK, f"beat {heartbeat['holder']} ticked {heartbeat['age_seconds']}s ago"


def longest_task_time_limit() -> int:
    """The largest hard time limit of any registered task (the global default when unset)."""
    app.loader.import_default_modules()
    default = app.conf.task_time_limit or 0
    return max([default, *(task.time_limit or default for task in app.tasks.values())])


def check_celery_config() -> tuple[str, str]:
    if not str(app.conf.broker_url).startswith(("redis://", "rediss://")):
        return SKIP, f"broker is {str(app.conf.broker_url).split(':')[0]}, not Redis: no visibility timeout"
    visibility = (app.conf.broker_transport_options or {}).get("visibility_timeout", 3600)
    needed = longest_task_time_limit() + settings.CELERY_MAX_ETA_SECONDS
    if visibility <= needed:
        return FAIL, (f"Redis visibility_timeout {visibility}s <= longest time limit + max ETA ({needed}s): "
                      "long tasks would run twice")
    return OK, f"visibility_timeout {visibility}s > longest time limit + max ETA ({needed}s)"


def check_schedule() -> tuple[str, str]:
    app.loader.import_default_modules()
    rows = dict(PeriodicTask.objects.values_list("name", "task"))
    missing_rows = [job.name for job in PERIODIC_JOBS if job.name not in rows]
    unknown_tasks = sorted({task for task in rows.values() if task not in app.tasks})
    problems = []
    if missing_rows:
        problems.append(f"not in the database (run sync_schedule): {', '.join(missing_rows)}")
    if unknown_tasks:
        problems.append(f"scheduled but not a registered task: {', '.join(unknown_tasks)}")
    if problems:
        return FAIL, "; ".join(problems)
    return OK, f"{len(rows)} periodic tasks, all registered"


def check_disk() -> tuple[str, str]:
    minimum = settings.DOCTOR_MIN_FREE_DISK_MB
    lines, worst = [], OK
    for label, path in (("var", settings.VAR_DIR), ("media", settings.MEDIA_ROOT), ("backups", settings.BACKUP_DIR)):
        path = Path(path)
        while not path.exists() and path != path.parent:
            path = path.parent
        free_mb = shutil.disk_usage(path).free // (1024 * 1024)
        lines.append(f"{label} {free_mb} MB free")
        if free_mb < minimum:
            worst = FAIL
    return worst, ", ".join(lines) + (f" (minimum {minimum} MB)" if worst == FAIL else "")


def check_face_models() -> tuple[str, str]:
    try:
        models = importlib.import_module("face_recognition_models")
    except ImportError:
        return FAIL, "the face_recognition_models package is not installed"
    paths = [Path(models.face_recognition_model_location()), Path(models.pose_predictor_five_point_model_location())]
    missing = [str(path) for path in paths if not path.is_file() or path.stat().st_size == 0]
    if missing:
        return FAIL, f"missing or empty: {', '.join(missing)}"
    return OK, ", ".join(path.name for path in paths)


def status_check(source: Callable[[], dict]) -> Callable[[], tuple[str, str]]:
    """A status source as a check: WARN unless everything it counts is online."""

    def check() -> tuple[str, str]:
        counts = source()
        detail = ", ".join(f"{key} {value}" for key, value in counts.items())
        return (WARN if counts.get("online", 0) < counts.get("total", 0) else OK), detail

    return check


def check_backups() -> tuple[str, str]:
    state = describe_backups()
    success = state.get("last_success")
    if not state["ok"]:
        return FAIL, state["error"]
    if success is None:
        return WARN, state.get("note", "no backup yet")
    return OK, f"{success['file']}, {success['size_bytes']} bytes, {success['age_hours']} h old"


BUILT_IN: dict[str, Callable[[], tuple[str, str]]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "workers": check_workers,
    "beat": check_beat,
    "celery config": check_celery_config,
    "schedule": check_schedule,
    "disk": check_disk,
    "face models": check_face_models,
}
# Without a database these cannot say anything useful (nor can any status source).
NEEDS_DATABASE = {"schedule"}


def checks() -> dict[str, Callable[[], tuple[str, str]]]:
    """Every check in report order: the built-in ones, one per status source, then backups."""
    sources = {name: status_check(source) for name, source in sorted(status.sources.entries().items())}
    return {**BUILT_IN, **sources, "backups": check_backups}


def _needs_database(name: str) -> bool:
    return name in NEEDS_DATABASE or name in status.sources.entries()


def run_checks(*, skip: set[str] = frozenset(), only: set[str] = frozenset()) -> list[Finding]:
    """Every check (or only those named in `only`), in order; `skip` ones are reported as skipped."""
    findings: list[Finding] = []
    database_ok = True
    for name, check in checks().items():
        if only and name not in only:
            continue
        if name in skip:
            findings.append(Finding(name, SKIP, "skipped on request"))
            continue
        if _needs_database(name) and not database_ok:
            findings.append(Finding(name, SKIP, "database unreachable"))
            continue
        started = time.perf_counter()
        try:
            status, detail = check()
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [""])[0]
            status, detail = FAIL, f"{type(exc).__name__}: {first_line}"
        findings.append(Finding(name, status, detail, round((time.perf_counter() - started) * 1000, 1)))
        if name == "database" and status == FAIL:
            database_ok = False
    return findings
