"""Writes to accounts: users, roles and role groups."""

from __future__ import annotations

import logging

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from config.http import client_ip, user_agent
from config.logging import current_request_id

from .choices import ROLE_ORDER, Role
from .models import AuditEvent, User
from .roles import PERMISSIONS, permissions_for_role

audit_log = logging.getLogger("campus.audit")


@transaction.atomic
def sync_roles() -> dict[str, int]:
    """Creates or repairs one Group per role with exactly its permissions. Idempotent."""
    content_type = ContentType.objects.get_for_model(User)
    by_codename = {}
    for codename, name in PERMISSIONS.items():
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        by_codename[codename] = permission
    counts = {}
    for role in ROLE_ORDER:
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = [by_codename[c] for c in permissions_for_role(role)]
        group.permissions.set(wanted)
        counts[role.value] = len(wanted)
    return counts


def sync_roles_after_migrate(**kwargs) -> None:
    sync_roles()


def role_group(role: str) -> Group:
    return Group.objects.get(name=role)


@transaction.atomic
def apply_role(*, user: User, role: str) -> None:
    """Puts `user` in exactly the group of `role`; admins and staff may use the admin site."""
    role = Role(role)
    user.role = role
    user.is_staff = role in (Role.ADMIN, Role.STAFF)
    user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    user.groups.set([role_group(role)])
    # Django caches permissions on the instance; a role change must be seen at once.
    for cache_name in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache_name, None)


@transaction.atomic
def create_user(
    *, username: str, email: str, password: str | None, role: str = Role.GUEST, **fields
) -> User:
    """Creates a user with a validated, hashed password (or none usable) and its role group."""
    user = User(username=username, email=email, **fields)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    apply_role(user=user, role=role)
    return user


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
