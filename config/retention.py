"""Retention purges: each app registers what it keeps for a limited time.

An app calls `register_purger("heartbeats", purge_old_heartbeats)` in its
AppConfig.ready(); `manage.py purge` and the nightly task run every purger.
A purger is `fn(*, now: datetime, dry_run: bool) -> int` returning how many
rows (or files) it deleted, or would delete when `dry_run` is true.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

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
