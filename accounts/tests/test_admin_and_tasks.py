"""Admin actions and the periodic flush call the same services as the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.choices import AuditAction
from accounts.models import AuditEvent, RefreshTokenClient, User
from accounts.sessions import start_session
from accounts.tasks import flush_expired_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_site(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _changelist(model: str) -> str:
    return f"/{settings.ADMIN_URL}accounts/{model}/"


def test_deactivate_action_ends_sessions_and_audits(admin_site, make_user):
    user = make_user()
    start_session(user=user)
    response = admin_site.post(
        _changelist("user"), {"action": "deactivate_users", "_selected_action": [user.pk]}, follow=True
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.is_active is False
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.DEACTIVATED, target=f"user:{user.pk}").exists()


def test_end_all_sessions_action(admin_site, make_user):
    user = make_user()
    start_session(user=user)
    start_session(user=user)
    admin_site.post(_changelist("user"), {"action": "end_all_sessions", "_selected_action": [user.pk]})
    assert BlacklistedToken.objects.filter(token__user=user).count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.SESSIONS_REVOKED).count() == 1


def test_user_changelist_filters_and_search(admin_site, make_user):
    make_user(username="findme", role="staff")
    response = admin_site.get(_changelist("user"), {"role__exact": "staff", "q": "findme"})
    assert response.status_code == 200
    assert b"findme" in response.content


def test_audit_log_is_read_only_in_the_admin(admin_site, admin_user):
    event = AuditEvent.objects.create(action="auth.logout", actor=admin_user)
    assert admin_site.get(_changelist("auditevent"), {"action": "auth.logout"}).status_code == 200
    assert admin_site.get(f"{_changelist('auditevent')}add/").status_code == 403
    assert admin_site.post(f"{_changelist('auditevent')}{event.pk}/change/", {"action": "x"}).status_code == 403
    assert admin_site.post(f"{_changelist('auditevent')}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "auth.logout"


def test_role_change_in_the_admin_goes_through_the_service(admin_site, make_user):
    user = make_user(role="student")
    start_session(user=user)
    response = admin_site.get(f"{_changelist('user')}{user.pk}/change/")
    form = response.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        role="staff", user_permissions=[], preferences="{}",
        date_joined_0=user.date_joined.strftime("%Y-%m-%d"), date_joined_1=user.date_joined.strftime("%H:%M:%S"),
    )  # fmt: skip
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = admin_site.post(f"{_changelist('user')}{user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    user = User.objects.get(pk=user.pk)
    assert user.role == "staff" and [g.name for g in user.groups.all()] == ["staff"]
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.ROLE_CHANGED).count() == 1


def test_flush_expired_tokens_task_deletes_only_expired_ones(make_user):
    user = make_user()
    with time_machine.travel(timezone.now() - timedelta(days=8), tick=False):
        start_session(user=user)
    start_session(user=user)
    result = flush_expired_tokens.delay()
    assert result.get() == 1
    assert OutstandingToken.objects.filter(user=user).count() == 1
    assert RefreshTokenClient.objects.count() == 1
    assert flush_expired_tokens.delay().get() == 0


def test_adding_a_user_in_the_admin_sets_email_and_the_roles_group(admin_site):
    response = admin_site.post(
        f"{_changelist('user')}add/",
        {
            "username": "added",
            "email": "added@campus.test",
            "role": "student",
            "usable_password": "true",
            "password1": "Added-User-Pass-1!",
            "password2": "Added-User-Pass-1!",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    user = User.objects.get(username="added")
    assert (user.email, user.role, [g.name for g in user.groups.all()]) == ("added@campus.test", "student", ["student"])
    assert user.check_password("Added-User-Pass-1!")
