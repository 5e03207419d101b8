"""The role matrix: data in roles.py, groups in the database, table in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from accounts.roles import PERMISSIONS, ROLE_GRANTS, permissions_for_role, roles_markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_shows_the_matrix_from_roles_py():
    readme = README.read_text()
    section = readme.split("<!-- section:accounts -->")[1].split("<!-- /section:accounts -->")[0]
    assert roles_markdown_table() in section


def test_twenty_permissions_each_granted_once_and_inherited_upwards():
    assert len(PERMISSIONS) == 20
    assert permissions_for_role("guest") == ["view_campus"]
    for lower, higher in [("guest", "student"), ("student", "staff"), ("staff", "admin")]:
        assert set(permissions_for_role(lower)) < set(permissions_for_role(higher))
    assert len(permissions_for_role("admin")) == 20
    admin_only_permissions = ["view_all_students", "enroll_faces", "manage_cameras", "manage_devices", "manage_users",
                              "manage_system"]
    for admin_only in admin_only_permissions:
        assert admin_only in ROLE_GRANTS["admin"]


@pytest.mark.django_db
def test_sync_roles_repairs_a_tampered_group_and_is_idempotent():
    staff = Group.objects.get(name="staff")
    staff.permissions.clear()
    Group.objects.filter(name="guest").delete()
    call_command("sync_roles", verbosity=0)
    call_command("sync_roles", verbosity=0)
    for role in ["admin", "staff", "student", "guest"]:
        held = set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))
        assert held == set(permissions_for_role(role))


@pytest.mark.django_db
def test_user_permissions_follow_the_role(make_user):
    student = make_user(role="student")
    assert student.has_campus_perm("file_complaint") and not student.has_campus_perm("view_users")
    assert student.has_role_at_least("guest") and not student.has_role_at_least("staff")
