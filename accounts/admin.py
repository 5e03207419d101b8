from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from config.exceptions import DomainError

from . import services, sessions
from .admin_permissions import RolePermissionsMixin, WrittenBySystemMixin
from .choices import RevokeReason
from .models import AuditEvent, User


class StaffLoginForm(AdminAuthenticationForm):
    """A student or guest with the right password is told plainly that the admin is for staff."""

    def confirm_login_allowed(self, user):
        if user.is_active and not user.is_staff:
            raise ValidationError(
                "%(username)s is a %(role)s account, and this admin is for campus staff; "
                "students and guests use the campus app. Ask an administrator if you need staff access.",
                code="not_staff",
                params={"username": user.get_username(), "role": user.get_role_display().lower()},
            )
        super().confirm_login_allowed(user)


admin.site.login_form = StaffLoginForm
# Refresh tokens are handled per user (the "End all sessions" action and the sessions API), not row by row.
for _model in (OutstandingToken, BlacklistedToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(User)
class UserAdmin(RolePermissionsMixin, DjangoUserAdmin):
    view_permission = "view_users"
    change_permission = add_permission = "manage_users"
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active", "last_login")
    list_filter = ("role", "is_active", "is_staff", "date_joined")
    search_fields = ("username", "email", "first_name", "last_name")
    ordering = ("username",)
    show_full_result_count = False
    # The role decides groups, is_staff and is_superuser (see services.apply_role), so those are read-only.
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email", "phone")}),
        ("Campus", {"fields": ("role", "is_active", "preferences")}),
        ("Derived from the role", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ("last_login", "date_joined", "is_staff", "is_superuser", "groups")
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "role", "usable_password", "password1", "password2"),
            },
        ),
    )
    actions = ["deactivate_users", "end_all_sessions"]

    def save_model(self, request, obj, form, change):
        # Role and activation go through the services, so groups, sessions and the audit log follow.
        if change:
            stored = User.objects.get(pk=obj.pk)
            new_role, new_active = obj.role, obj.is_active
            obj.role, obj.is_active = stored.role, stored.is_active
            super().save_model(request, obj, form, change)
            changes = {}
            if new_role != stored.role:
                changes["role"] = new_role
            if new_active != stored.is_active:
                changes["is_active"] = new_active
            if changes:
                try:
                    services.admin_update_user(actor=request.user, user=obj, changes=changes, request=request)
                except DomainError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
        else:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the form's many-to-many save, so the role's group is what stays.
        services.apply_role(user=form.instance, role=form.instance.role)

    @admin.action(description="Deactivate selected users (ends their sessions)")
    def deactivate_users(self, request, queryset):
        done = 0
        for user in queryset.exclude(pk=request.user.pk).filter(is_active=True):
            services.set_user_active(actor=request.user, user=user, active=False, request=request)
            done += 1
        self.message_user(request, f"Deactivated {done} user(s).", messages.SUCCESS)

    @admin.action(description="End all sessions of selected users")
    def end_all_sessions(self, request, queryset):
        total = 0
        for user in queryset:
            total += sessions.revoke_all_sessions(
                user=user, actor=request.user, request=request, reason=RevokeReason.ADMIN
            )
        self.message_user(request, f"Ended {total} session token(s).", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(WrittenBySystemMixin, RolePermissionsMixin, admin.ModelAdmin):
    """Read-only: the audit log is written by services only."""

    view_permission = "manage_system"

    list_display = ("occurred_at", "action", "actor_label", "target", "ip", "request_id")
    list_filter = ("action", "occurred_at")
    search_fields = ("actor_label", "target", "ip", "request_id")
    date_hierarchy = "occurred_at"
    list_select_related = ("actor",)
    raw_id_fields = ("actor",)
    show_full_result_count = False
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False
