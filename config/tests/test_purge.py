from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.audit import record_audit_event
from accounts.models import AuditEvent
from config import retention
from config.tasks import purge_expired


@pytest.fixture
def audit_events(db, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    for action in ("old.one", "old.two", "recent"):
        record_audit_event(action=action, actor_label="tester")
    AuditEvent.objects.filter(action__startswith="old.").update(occurred_at=timezone.now() - timedelta(days=31))
    AuditEvent.objects.filter(action="recent").update(occurred_at=timezone.now() - timedelta(days=29))


def test_dry_run_counts_and_deletes_nothing(audit_events, capsys):
    before = sorted(AuditEvent.objects.values_list("id", "action"))
    call_command("purge", "--dry-run")
    out = capsys.readouterr().out
    assert "audit_events" in out and "would delete 2" in out
    assert "Dry run:" in out
    assert sorted(AuditEvent.objects.values_list("id", "action")) == before


def test_purge_deletes_only_expired_audit_events(audit_events, capsys):
    call_command("purge", "--only", "audit_events")
    assert "audit_events                 deleted 2" in capsys.readouterr().out
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["recent"]


def test_every_registered_purger_runs(audit_events, capsys):
    call_command("purge")
    out = capsys.readouterr().out
    for name in retention.registered_purgers():
        assert name in out
    assert AuditEvent.objects.filter(action__startswith="old.").count() == 0


def test_the_task_runs_the_same_purgers(audit_events):
    counts = purge_expired.delay().get()
    assert counts["audit_events"] == 2
    assert AuditEvent.objects.filter(action="recent").exists()


def test_task_dry_run_deletes_nothing(audit_events):
    assert purge_expired.delay(dry_run=True).get()["audit_events"] == 2
    assert AuditEvent.objects.count() == 3


def test_unknown_purger_is_a_clear_error(db):
    with pytest.raises(CommandError, match=r"unknown purger\(s\): nope; known: .*audit_events"):
        call_command("purge", "--only", "nope")


def test_one_failing_purger_fails_the_command_but_not_the_others(audit_events, capsys):
    def broken(*, now, dry_run):
        raise RuntimeError("disk on fire")

    with retention.purgers.replaced({**retention.purgers.entries(), "broken": broken}), pytest.raises(
        CommandError, match=r"1 purger\(s\) failed"
    ):
        call_command("purge")
    captured = capsys.readouterr()
    assert "broken" in captured.err and "disk on fire" in captured.err
    assert AuditEvent.objects.filter(action__startswith="old.").count() == 0
