"""Retention purges: what the apps keep for a limited time, deleted by one runner.

The purgers are the extension point `purgers`, provided by
`cameras.composition`; `manage.py purge` and the nightly task
`config.tasks.purge_expired` (their only schedule) run every purger.
A purger is `fn(*, now: datetime, dry_run: bool) -> int` returning how many
rows (or files) it deleted, or would delete when `dry_run` is true.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .extensions import ExtensionPoint

logger = logging.getLogger("campus.retention")

Purger = Callable[..., int]
purgers: ExtensionPoint[Purger] = ExtensionPoint("retention purgers")


def registered_purgers() -> dict[str, Purger]:
    return purgers.entries()


def run_purgers(*, now: datetime, dry_run: bool, only: list[str] | None = None) -> dict[str, int]:
    """Runs every registered purger (or those in `only`); returns counts by name."""
    return {
        name: purge(now=now, dry_run=dry_run)
        for name, purge in sorted(purgers.entries().items())
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
    known = purgers.entries()
    unknown = sorted(set(only or ()) - set(known))
    if unknown:
        raise ValueError(f"unknown purger(s): {', '.join(unknown)}; known: {', '.join(sorted(known)) or 'none'}")
    report = PurgeReport()
    for name, purge in sorted(known.items()):
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

