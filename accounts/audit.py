"""The audit trail: one row per security-relevant action, written in the caller's transaction.

Its own module so that every writer (services, sessions, the other apps) imports it
without importing the others.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from django.db import models

from config.http import client_ip, user_agent
from config.logging import current_request_id

from .models import AuditEvent, User

audit_log = logging.getLogger("campus.audit")

_Row = TypeVar("_Row", bound=models.Model)


def record_audit_event(
    *,
    action: str,
    actor: User | None = None,
    actor_label: str = "",
    target: str = "",
    request=None,
    details: dict | None = None,
) -> AuditEvent:
    """Writes an audit row (inside the caller's transaction) and the same as a JSON log line."""
    ip = client_ip(request) if request is not None else None
    event = AuditEvent.objects.create(
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor_label or (actor.get_username() if actor is not None and actor.pk else ""),
        target=target[:200],
        ip=ip if ip and ip != "unknown" else None,
        user_agent=user_agent(request) if request is not None else "",
        request_id=current_request_id() if current_request_id() != "-" else "",
        details=details or {},
    )
    audit_log.info(
        "audit",
        extra={
            "audit_action": action,
            "actor_id": event.actor_id,
            "actor": event.actor_label,
            "target": event.target,
            "ip": event.ip,
            "details": event.details,
        },
    )
    return event


def save_audited(
    row: _Row, *, action: str, kind: str, actor: User | None = None, request=None, details: dict | None = None
) -> _Row:
    """Validates and saves `row`, then audits `action` on it (target "<kind>:<pk>") in the caller's transaction."""
    row.full_clean()
    row.save()
    record_audit_event(action=action, actor=actor, target=f"{kind}:{row.pk}", request=request, details=details)
    return row
