"""The admin's permissions, built on the twenty named permissions of `accounts.roles`.

Django's admin asks for per-model permissions (`campus.view_student`...); our roles
hold named ones (`view_students`). Each ModelAdmin says which named permission
lets a person view, change, add and delete its rows; what rows they see is the
model's `visible_to(user)` (README: "Who sees what"). Admins are superusers and
see everything; a model with no named permission stays hidden from staff.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from .permissions import user_has


class RolePermissionsMixin:
    """Class attributes name the permission for each admin verb; None means "superusers only"."""

    view_permission: str | None = None
    change_permission: str | None = None
    add_permission: str | None = None
    delete_permission: str | None = None

    def _holds(self, request, codename: str | None) -> bool:
        if request.user.is_active and request.user.is_superuser:
            return True
        return codename is not None and user_has(request.user, codename)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._holds(request, self.view_permission) or self.has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._holds(request, self.change_permission)

    def has_add_permission(self, request, *args) -> bool:
        return self._holds(request, self.add_permission)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._holds(request, self.delete_permission)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)


class WrittenBySystemMixin:
    """Rows only the system writes (audit events, heartbeats, frames, sightings): people with the
    view permission read them; nobody adds or edits one by hand. Put it before the role mixin."""

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RoleModelAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """A ModelAdmin whose permissions come from the roles; big tables do not count every page."""

    show_full_result_count = False


def admin_page(model_admin: admin.ModelAdmin, route: str, view, *, name: str, permission: str) -> URLPattern:
    """A page of a ModelAdmin's own (a dashboard, a form on one row) at `route`: behind the
    admin's sign-in, and a 403 for a person whose role does not hold `permission`."""

    @wraps(view)
    def permitted(request, *args, **kwargs):
        if not user_has(request.user, permission):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return path(route, model_admin.admin_site.admin_view(permitted), name=name)


def render_admin_page(
    model_admin: admin.ModelAdmin, request, template: str, *, title: str, **context
) -> TemplateResponse:
    """One of those pages: `template` with the admin's own context (site, `opts`, `title`) around `context`."""
    return TemplateResponse(
        request, template, {**model_admin.admin_site.each_context(request), "title": title, "opts": model_admin.opts,
                            **context}
    )
