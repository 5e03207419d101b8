"""Reads of accounts reused by the API and the admin."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import connection
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


def _user_with_permissions_sql() -> tuple[str, list[Any]]:
    """The user row plus two arrays of `app_label.codename`: its own permissions and its groups'.

    Written once per process from the models' tables and columns: the ORM would
    compile the two subqueries again on every request, which cost more than the query.
    """
    def table(model: Any) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    def column(field: Any) -> str:
        return connection.ops.quote_name(field.column)

    own, groups = User.user_permissions.through, User.groups.through
    group_permissions = Group.permissions.through
    content_type = Permission._meta.get_field("content_type").related_model
    fields = list(User._meta.concrete_fields)
    columns = ", ".join(f"u.{column(f)}" for f in fields)
    name = (f"ct.app_label || '.' || p.codename FROM {table(Permission)} p "
            f"JOIN {table(content_type)} ct ON ct.id = p.content_type_id")
    # Table and column names from the models' meta; the one value is a parameter.
    sql = (
        f"SELECT {columns}, "  # noqa: S608
        f"ARRAY(SELECT {name} JOIN {table(own)} up ON up.permission_id = p.id WHERE up.user_id = u.id), "
        f"ARRAY(SELECT {name} JOIN {table(group_permissions)} gp ON gp.permission_id = p.id "
        f"JOIN {table(groups)} ug ON ug.group_id = gp.group_id WHERE ug.user_id = u.id) "
        f"FROM {table(User)} u WHERE u.{column(User._meta.pk)} = %s"
    )
    return sql, fields


_SQL: tuple[str, list[Any]] | None = None


def user_with_permissions(pk: Any) -> User | None:
    """The user with primary key `pk`, its permission set loaded in the same query (PostgreSQL).

    Every authenticated request reads its user and then, at the first
    `has_campus_perm`, ModelBackend's two permission queries (the user's own,
    the role group's). Here the user row carries both sets as arrays, and they
    fill ModelBackend's per-request caches: one round trip instead of three,
    and as fresh as the database (nothing is kept between requests). Other
    databases (the embedded SQLite mode) keep ModelBackend's own queries.
    """
    if connection.vendor != "postgresql":
        return User.objects.filter(pk=pk).first()
    global _SQL
    if _SQL is None:
        _SQL = _user_with_permissions_sql()
    sql, fields = _SQL
    try:
        pk = User._meta.pk.to_python(pk)
    except ValidationError:
        return None
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    # A raw row skips the fields' own conversion (JSONField's text -> dict): apply it as the ORM does.
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, row[: len(fields)], strict=True)
    ]
    user = User.from_db(connection.alias, [field.attname for field in fields], values)
    # A superuser holds every permission; ModelBackend lists them all itself, so its caches stay unset.
    if not user.is_superuser:
        own, via_groups = set(row[-2]), set(row[-1])
        # ModelBackend's own cache attributes (django.contrib.auth.backends), filled as it would fill them.
        user._user_perm_cache = own  # type: ignore[attr-defined]
        user._group_perm_cache = via_groups  # type: ignore[attr-defined]
        user._perm_cache = own | via_groups  # type: ignore[attr-defined]
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
