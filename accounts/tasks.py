"""Periodic accounts jobs. Thin: each calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

from . import sessions

logger = logging.getLogger("campus.accounts")


@shared_task(bind=True, acks_late=True)
def flush_expired_tokens(self) -> int:
    """Deletes expired refresh tokens (and their blacklist and session rows). Idempotent."""
    deleted = sessions.flush_expired_tokens()
    logger.info("flushed expired refresh tokens", extra={"task_id": self.request.id, "deleted": deleted})
    return deleted
