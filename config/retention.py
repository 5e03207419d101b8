"""Retention purges: each app registers what it keeps for a limited time.

An app calls `register_purger("heartbeats", purge_old_heartbeats)` in its
AppConfig.ready(); `manage.py purge` and the nightly task run every purger.
A purger is `fn(*, now: datetime, dry_run: bool) -> int` returning how many
rows (or files) it deleted, or would delete when `dry_run` is true.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

logger = logging.getLogger("campus.retention")

Purger = Callable[..., int]
_purgers: dict[str, Purger] = {}


def register_purger(name: str, purge: Purger) -> None:
    _purgers[name] = purge


def registered_purgers() -> dict[str, Purger]:
    return dict(_purgers)


def run_purgers(*, now: datetime, dry_run: bool, only: list[str] | None = None) -> dict[str, int]:
    """Runs every registered purger (or those in `only`); returns counts by name."""
    return {
        name: purge(now=now, dry_run=dry_run)
        for name, purge in sorted(_purgers.items())
        if only is None or name in only
    }


@dataclass
class PurgeReport:
    counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def purge_all(*, now: datetime, dry_run: bool, only: list[str] | None = None) -> PurgeReport:
    """Like `run_purgers`, but one failing purger is logged and reported while the others still run."""
    unknown = sorted(set(only or ()) - set(_purgers))
    if unknown:
        raise ValueError(f"unknown purger(s): {', '.join(unknown)}; known: {', '.join(sorted(_purgers)) or 'none'}")
    report = PurgeReport()
    for name, purge in sorted(_purgers.items()):
        if only is not None and name not in only:
            continue
        try:
            report.counts[name] = purge(now=now, dry_run=dry_run)
        except Exception as exc:
            logger.exception("purger failed", extra={"purger": name})
            report.errors[name] = f"{type(exc).__name__}: {exc}"
    logger.info(
        "retention purge finished",
        extra={"dry_run": dry_run, "counts": report.counts, "errors": sorted(report.errors)},
    )
    return report


def purge_audit_events(*, now: datetime, dry_run: bool) -> int:
    """Audit entries older than AUDIT_RETENTION_DAYS."""
    from django.conf import settings

    from accounts.models import AuditEvent

    expired = AuditEvent.objects.filter(occurred_at__lt=now - timedelta(days=settings.AUDIT_RETENTION_DAYS))
    if dry_run:
        return expired.count()
    deleted, _ = expired.delete()
    return deleted
