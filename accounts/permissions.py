"""DRF permission classes built on the twenty named permissions.

Views declare what each action needs:

    required_permissions = {"list": "view_campus", "create": "manage_campus", ...}

with `"*"` as the fallback for actions not listed, and `None` for public.
Object scope (own records, taught sections) lives in each model's
`visible_to(user)` queryset method, not here.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from .choices import Role

SAFE_ACTIONS = {"list", "retrieve", "metadata"}


def user_has(user, codename: str) -> bool:
    return bool(user and user.is_authenticated and user.has_campus_perm(codename))


class RolePermission(BasePermission):
    """Checks `view.required_permissions[action]` (or `"*"`) against the user's role."""

    message = "Your role does not allow this action."

    @staticmethod
    def required(view) -> str | None:
        mapping: dict[str, str | None] = getattr(view, "required_permissions", {})
        action = getattr(view, "action", None) or (view.request.method.lower() if view.request else None)
        if action in mapping:
            return mapping[action]
        return mapping.get("*", "manage_system")

    def has_permission(self, request, view) -> bool:
        codename = self.required(view)
        if codename is None:
            return True
        return user_has(request.user, codename)


def require(*codenames: str) -> type[BasePermission]:
    """A permission class that needs every one of `codenames`."""

    class Required(BasePermission):
        message = f"Needs the {', '.join(codenames)} permission."

        def has_permission(self, request, view) -> bool:
            return all(user_has(request.user, codename) for codename in codenames)

    Required.__name__ = "Require_" + "_".join(codenames)
    return Required


class IsStaffRole(BasePermission):
    """Admin or staff role."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_role_at_least(Role.STAFF))
