"""Maintenance tasks (queue `maintenance`). Thin: each calls the code its command calls."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from .backups import run_backup
from .retention import purge_all

logger = logging.getLogger("campus.tasks")


# Well inside the Redis visibility timeout (see config/tests/test_celery_config.py). Not retried by
# the base task: a failed backup is recorded and raised, and a retry could overlap the next night's.
@shared_task(bind=True, time_limit=3000, soft_time_limit=2700, autoretry_for=())
def nightly_backup(self) -> dict:
    """Backup, verify and apply retention; a failure is logged, recorded for /health/full, and raised."""
    backup, removed = run_backup(trigger="nightly")
    logger.info("nightly backup done", extra={"task_id": self.request.id, "file": backup.database.name})
    return {"file": str(backup.database), "size_bytes": backup.size_bytes, "removed": len(removed)}


@shared_task(bind=True, time_limit=1800, soft_time_limit=1500)
def purge_expired(self, dry_run: bool = False) -> dict:
    """Runs every retention purger (their only schedule); idempotent."""
    report = purge_all(now=timezone.now(), dry_run=dry_run)
    logger.info("purge done", extra={"task_id": self.request.id, "counts": report.counts, "errors": report.errors})
    if report.errors:
        raise RuntimeError(f"purgers failed: {', '.join(sorted(report.errors))}")
    return report.counts
