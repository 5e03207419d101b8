"""Periodic device jobs (scheduled by beat; names are part of the contract)."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger("campus.devices")


@shared_task(name="devices.tasks.mark_offline_devices", bind=True)
def mark_offline_devices(self) -> int:
    """Marks devices without a heartbeat in the online window as offline; idempotent."""
    went_offline = services.mark_offline_devices()
    if went_offline:
        logger.info("devices marked offline", extra={"task_id": self.request.id, "count": len(went_offline)})
    return len(went_offline)


@shared_task(name="devices.tasks.expire_registration_tokens", bind=True)
def expire_registration_tokens(self) -> int:
    """Deletes registration tokens long expired, used up or revoked."""
    deleted = services.expire_registration_tokens()
    logger.info("registration tokens expired", extra={"task_id": self.request.id, "count": deleted})
    return deleted
