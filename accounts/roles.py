"""The twenty named permissions and which role first receives each, and `apply_role`.

The matrix is data; `sync_roles` turns it into one Django Group per role with
the group's permissions, so admins see (and may adjust) it in the admin.
`apply_role` is here, below models and services, because both use it (the
superuser manager and every user write).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.models import Group
from django.db import transaction

from .choices import ROLE_ORDER, Role

if TYPE_CHECKING:
    from .models import User

PERMISSIONS: dict[str, str] = {
    "view_users": "View user accounts",
    "manage_users": "Create, edit and deactivate user accounts",
    "view_campus": "View buildings, rooms, courses, sections and the timetable",
    "manage_campus": "Edit buildings, rooms, courses, sections and the timetable",
    "view_students": "View student records",
    "manage_students": "Create and edit student records and enrolments",
    "view_own_attendance": "View one's own attendance",
    "view_attendance": "View attendance of the sections one teaches",
    "view_all_students": "See every student and every section's attendance (campus-wide duties)",
    "mark_attendance": "Mark attendance by hand",
    "edit_attendance": "Override attendance records",
    "view_reports": "View attendance reports, dashboard and trends",
    "file_complaint": "File and comment on one's own complaints",
    "handle_complaints": "See, assign and resolve all complaints",
    "view_cameras": "View cameras and their status",
    "manage_cameras": "Add, edit and remove cameras",
    "review_faces": "Review unknown faces: dismiss, or assign to a consenting student (enrols the face)",
    "enroll_faces": "Enrol and erase students' face data (biometric)",
    "manage_devices": "Manage edge devices, bundles and deployments",
    "manage_system": "Operations: backups, schedules, system settings",
}

# Permissions a role adds on top of the roles below it. Biometric enrolment,
# cameras, devices, users and the system are admin-only by default.
ROLE_GRANTS: dict[str, list[str]] = {
    Role.GUEST: ["view_campus"],
    Role.STUDENT: ["view_own_attendance", "file_complaint"],
    Role.STAFF: [
        "view_users",
        "view_students",
        "view_attendance",
        "mark_attendance",
        "edit_attendance",
        "view_reports",
        "handle_complaints",
        "view_cameras",
        "review_faces",
    ],
    Role.ADMIN: [
        "view_all_students",
        "manage_users",
        "manage_campus",
        "manage_students",
        "manage_cameras",
        "enroll_faces",
        "manage_devices",
        "manage_system",
    ],
}


def permissions_for_role(role: str) -> list[str]:
    """Every permission `role` holds, its own and inherited."""
    held: list[str] = []
    for step in ROLE_ORDER:
        held.extend(ROLE_GRANTS[step])
        if step == role:
            return held
    raise ValueError(f"unknown role {role!r}")


assert sorted(p for grants in ROLE_GRANTS.values() for p in grants) == sorted(PERMISSIONS), (
    "every permission is granted to exactly one role"
)


def roles_markdown_table() -> str:
    """The role -> permission matrix as the README shows it (a test keeps the two equal)."""
    roles = list(reversed(ROLE_ORDER))
    lines = [
        "| Permission | " + " | ".join(role.label for role in roles) + " |",
        "|---|" + "|".join(":-:" for _ in roles) + "|",
    ]
    for codename in PERMISSIONS:
        marks = ["✓" if codename in permissions_for_role(role) else "" for role in roles]
        lines.append(f"| `{codename}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)


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
