"""Reads of accounts reused by the API and the admin."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Prefetch, QuerySet

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
