"""Reads of accounts reused by the API and the admin."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import CharField, F, OuterRef, Prefetch, QuerySet, Value
from django.db.models.functions import Concat

from .choices import ROLE_ORDER
from .models import User

# The columns the users API shows; the list query loads exactly these.
USER_LIST_FIELDS = (
    "id",
    "username",
    "email",
    "first_name",
    "last_name",
    "phone",
    "role",
    "is_active",
    "preferences",
    "date_joined",
    "last_login",
)


def _permission_names(**owner: Any) -> QuerySet[Permission]:
    """`app_label.codename` of the permissions matching `owner`, as ModelBackend names them."""
    name = Concat(F("content_type__app_label"), Value("."), F("codename"), output_field=CharField())
    return Permission.objects.filter(**owner).annotate(perm=name).values("perm")


def user_with_permissions(pk: Any) -> User | None:
    """The user with primary key `pk`, its permission set loaded in the same query (PostgreSQL).

    Every authenticated request reads its user and then, at the first
    `has_campus_perm`, ModelBackend's two permission queries (the user's own,
    the role group's). Here the user row carries both sets as arrays, and they
    fill ModelBackend's per-request caches: one round trip instead of three,
    and as fresh as the database (nothing is kept between requests). Other
    databases (the embedded SQLite mode) keep ModelBackend's own queries.
    """
    users = User.objects.filter(pk=pk)
    if connection.vendor != "postgresql":
        return users.first()
    user = users.annotate(
        own_permission_names=ArraySubquery(_permission_names(user=OuterRef("pk"))),
        group_permission_names=ArraySubquery(_permission_names(group__user=OuterRef("pk"))),
    ).first()
    # A superuser holds every permission; ModelBackend lists them all itself, so its caches stay unset.
    if user is not None and not user.is_superuser:
        user._user_perm_cache = set(user.own_permission_names)
        user._group_perm_cache = set(user.group_permission_names)
        user._perm_cache = user._user_perm_cache | user._group_perm_cache
    return user


def users_for_admin() -> QuerySet[User]:
    """Users as the admin API lists them: flat rows, no per-row queries."""
    return User.objects.only(*USER_LIST_FIELDS).order_by("username")


def role_groups() -> list[Group]:
    """The four role groups with the permissions they hold now (admins may have adjusted them)."""
    groups = {
        group.name: group
        for group in Group.objects.filter(name__in=[role.value for role in ROLE_ORDER]).prefetch_related(
            Prefetch("permissions", queryset=Permission.objects.order_by("codename"))
        )
    }
    return [groups[role.value] for role in reversed(ROLE_ORDER) if role.value in groups]
