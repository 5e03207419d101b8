"""Writes to accounts: users, roles and role groups."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from .choices import ROLE_ORDER, Role
from .models import User
from .roles import PERMISSIONS, permissions_for_role


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
