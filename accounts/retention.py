"""What accounts keeps for a limited time: audit entries (AUDIT_RETENTION_DAYS)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from .models import AuditEvent


def purge_audit_events(*, now: datetime, dry_run: bool) -> int:
    """Audit entries older than AUDIT_RETENTION_DAYS."""
    expired = AuditEvent.objects.filter(occurred_at__lt=now - timedelta(days=settings.AUDIT_RETENTION_DAYS))
    if dry_run:
        return expired.count()
    deleted, _ = expired.delete()
    return deleted
