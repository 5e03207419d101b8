"""Two refreshes racing with one token, and what the audit trail records."""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.choices import AuditAction
from accounts.models import AuditEvent
from accounts.sessions import TokenRefused, rotate_refresh_token, start_session
from config.tests.races import run_at_once


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_refreshes_with_one_token_issue_one_successor(make_user):
    user = make_user()
    raw = start_session(user=user).refresh
    outcomes: list[str] = []

    def attempt():
        try:
            rotate_refresh_token(raw=raw)
            outcomes.append("rotated")
        except TokenRefused:
            outcomes.append("refused")

    run_at_once(attempt, attempt)
    assert sorted(outcomes) == ["refused", "rotated"]
    # The loser counts as reuse: the whole chain, including the winner's new token, is revoked.
    assert OutstandingToken.objects.filter(user=user).count() == 2
    assert OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).count() == 0
    assert AuditEvent.objects.filter(action=AuditAction.REFRESH_REUSED).count() == 1


@pytest.mark.django_db
def test_login_audit_rows_carry_ip_user_agent_and_request_id(make_user, caplog):
    user = make_user(username="audited")
    with caplog.at_level(logging.INFO, logger="campus.audit"):
        APIClient().post(
            "/api/v1/auth/login",
            {"username": "audited", "password": "Correct-Horse-9-Battery"},
            REMOTE_ADDR="10.4.4.4",
            HTTP_USER_AGENT="Browser/9",
            HTTP_X_REQUEST_ID="req-abc-123",
        )
        APIClient().post("/api/v1/auth/login", {"username": "audited", "password": "wrong"}, REMOTE_ADDR="10.4.4.5")
    success = AuditEvent.objects.get(action=AuditAction.LOGIN_SUCCEEDED)
    assert (success.actor, success.ip, success.user_agent, success.request_id) == (
        user,
        "10.4.4.4",
        "Browser/9",
        "req-abc-123",
    )
    failure = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert (failure.actor_label, failure.ip, failure.details) == ("audited", "10.4.4.5", {"reason": "credentials"})
    logged = [record.audit_action for record in caplog.records if hasattr(record, "audit_action")]
    assert logged == [AuditAction.LOGIN_SUCCEEDED, AuditAction.LOGIN_FAILED]
