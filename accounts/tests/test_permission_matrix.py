"""Every role against every accounts endpoint: the expected status of each pair."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from accounts.models import User
from accounts.sessions import start_session
from accounts.tests.factories import DEFAULT_TEST_PASSWORD

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "guest", "student", "staff", "admin"]
_names = count()


@dataclass
class Context:
    client: APIClient
    actor: User | None
    target: User  # another user, a student, for the users endpoints
    make_user: object

    def new_name(self) -> str:
        return f"fresh{next(_names)}"


def _own_refresh(ctx: Context) -> str:
    user = ctx.actor or ctx.target
    return start_session(user=user).refresh


def _reset_confirm(ctx: Context):
    user = ctx.actor or ctx.target
    data = {
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
        "new_password": "Brand-New-Pass-55!",
    }
    return ctx.client.post("/api/v1/auth/password/reset/confirm", data)


def _revoke_own_session(ctx: Context):
    user = ctx.actor or ctx.target
    start_session(user=user)
    token_id = user.outstandingtoken_set.latest("id").pk
    return ctx.client.delete(f"/api/v1/auth/sessions/{token_id}")


def _on_target(method: str, suffix: str = "", data: dict | None = None):
    """A `method` request to the target user's own URL, /api/v1/users/<id><suffix>."""

    def call(ctx: Context):
        return getattr(ctx.client, method)(f"/api/v1/users/{ctx.target.pk}{suffix}", data)

    return call


# endpoint: (call, expected status for anonymous, guest, student, staff, admin)
MATRIX = {
    "POST auth/login": (
        lambda c: c.client.post(
            "/api/v1/auth/login", {"username": (c.actor or c.target).username, "password": DEFAULT_TEST_PASSWORD}
        ),
        (200, 200, 200, 200, 200),
    ),
    "POST auth/refresh": (
        lambda c: c.client.post("/api/v1/auth/refresh", {"refresh": _own_refresh(c)}),
        (200, 200, 200, 200, 200),
    ),
    "POST auth/logout": (
        lambda c: c.client.post("/api/v1/auth/logout", {"refresh": _own_refresh(c)}),
        (204, 204, 204, 204, 204),
    ),
    "POST auth/verify": (
        lambda c: c.client.post("/api/v1/auth/verify", {"token": _own_refresh(c)}),
        (200, 200, 200, 200, 200),
    ),
    "POST auth/register": (
        lambda c: c.client.post(
            "/api/v1/auth/register",
            {"username": (n := c.new_name()), "email": f"{n}@campus.test", "password": "Fresh-Pass-2026!"},
        ),
        (201, 201, 201, 201, 201),
    ),
    "GET auth/me": (lambda c: c.client.get("/api/v1/auth/me"), (401, 200, 200, 200, 200)),
    "PATCH auth/me": (
        lambda c: c.client.patch("/api/v1/auth/me", {"first_name": "Changed"}),
        (401, 200, 200, 200, 200),
    ),
    "POST auth/password/change": (
        lambda c: c.client.post(
            "/api/v1/auth/password/change",
            {"current_password": DEFAULT_TEST_PASSWORD, "new_password": "Changed-Pass-77!"},
        ),
        (401, 200, 200, 200, 200),
    ),
    "POST auth/password/reset": (
        lambda c: c.client.post("/api/v1/auth/password/reset", {"email": (c.actor or c.target).email}),
        (202, 202, 202, 202, 202),
    ),
    "POST auth/password/reset/confirm": (_reset_confirm, (200, 200, 200, 200, 200)),
    "GET auth/sessions": (lambda c: c.client.get("/api/v1/auth/sessions"), (401, 200, 200, 200, 200)),
    "DELETE auth/sessions": (lambda c: c.client.delete("/api/v1/auth/sessions"), (401, 200, 200, 200, 200)),
    "DELETE auth/sessions/<id>": (_revoke_own_session, (401, 204, 204, 204, 204)),
    "GET users": (lambda c: c.client.get("/api/v1/users"), (401, 403, 403, 200, 200)),
    "GET users/<id>": (_on_target("get"), (401, 403, 403, 200, 200)),
    "POST users": (
        lambda c: c.client.post(
            "/api/v1/users", {"username": (n := c.new_name()), "email": f"{n}@campus.test", "role": "student"}
        ),
        (401, 403, 403, 403, 201),
    ),
    "PATCH users/<id>": (_on_target("patch", data={"role": "staff"}), (401, 403, 403, 403, 200)),
    "PUT users/<id>": (_on_target("put", data={"last_name": "Put"}), (401, 403, 403, 403, 200)),
    "DELETE users/<id>": (_on_target("delete"), (401, 403, 403, 403, 204)),
    "POST users/<id>/password": (
        _on_target("post", "/password", data={"new_password": "Admin-Set-Pass-9!"}),
        (401, 403, 403, 403, 200),
    ),
    "DELETE users/<id>/sessions": (_on_target("delete", "/sessions"), (401, 403, 403, 403, 200)),
    "GET roles": (lambda c: c.client.get("/api/v1/roles"), (401, 200, 200, 200, 200)),
}

CASES = [
    pytest.param(endpoint, role, MATRIX[endpoint][1][index], id=f"{endpoint}-{role}")
    for endpoint in MATRIX
    for index, role in enumerate(ROLES)
]


@pytest.mark.parametrize("endpoint,role,expected", CASES)
def test_permission_matrix(endpoint, role, expected, make_user, client_for):
    target = make_user(role="student", username="target")
    actor = None if role == "anonymous" else make_user(role=role, username=f"actor_{role}")
    client = APIClient() if actor is None else client_for(actor)
    call = MATRIX[endpoint][0]
    response = call(Context(client=client, actor=actor, target=target, make_user=make_user))
    assert response.status_code == expected, response.content
    if expected in (401, 403):
        assert response.json()["error"]["code"] in {"not_authenticated", "permission_denied"}


def test_matrix_covers_every_accounts_route():
    from django.urls import get_resolver

    routes = set()
    for pattern in get_resolver().url_patterns:
        if str(pattern.pattern) != "api/v1/":
            continue
        for included in pattern.url_patterns:
            for sub in getattr(included, "url_patterns", [included]):
                name = getattr(sub, "name", "") or ""
                if name.startswith(("auth-", "user-", "role-")):
                    routes.add(name)
    assert routes == {
        "auth-login", "auth-refresh", "auth-logout", "auth-verify", "auth-register", "auth-me",
        "auth-password-change", "auth-password-reset", "auth-password-reset-confirm", "auth-sessions",
        "auth-session-detail", "user-list", "user-detail", "user-set-password", "user-end-sessions", "role-list",
    }  # fmt: skip
