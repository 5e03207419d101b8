"""Device fleet admin. Writes with a rule go through `devices.services`, as from the API."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.html import format_html

from accounts.permissions import user_has
from config.errors import DomainError

from . import services
from .choices import TargetState
from .models import (
    DEVICE_SYSTEM_FIELDS,
    Bundle,
    Deployment,
    DeploymentTarget,
    Device,
    DeviceCredential,
    DeviceGroup,
    Heartbeat,
    RegistrationToken,
    online_since,
)


class OnlineFilter(admin.SimpleListFilter):
    title = "online"
    parameter_name = "online"

    def lookups(self, request, model_admin):
        return [("yes", "Online"), ("no", "Offline")]

    def queryset(self, request, queryset):
        since = online_since()
        if self.value() == "yes":
            return queryset.filter(last_heartbeat_at__gte=since)
        if self.value() == "no":
            return queryset.exclude(last_heartbeat_at__gte=since)
        return queryset


class AgentVersionFilter(admin.SimpleListFilter):
    title = "agent version"
    parameter_name = "agent_version"

    def lookups(self, request, model_admin):
        versions = Device.objects.order_by("agent_version").values_list("agent_version", flat=True).distinct()
        return [(v, v or "(none)") for v in versions[:50]]

    def queryset(self, request, queryset):
        return queryset.filter(agent_version=self.value()) if self.value() is not None else queryset


class CredentialInline(admin.TabularInline):
    model = DeviceCredential
    fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = [
        "serial",
        "name",
        "kind",
        "room",
        "group",
        "state",
        "online_badge",
        "agent_version",
        "bundle_version",
        "last_heartbeat_at",
    ]
    list_filter = ["state", OnlineFilter, AgentVersionFilter, "kind", "room", "group"]
    list_select_related = ["room", "group"]
    search_fields = ["serial", "name", "last_ip"]
    raw_id_fields = ["room"]
    readonly_fields = [*DEVICE_SYSTEM_FIELDS, "marked_online"]
    inlines = [CredentialInline]
    actions = ["disable_devices", "enable_devices", "rotate_credentials"]

    @admin.display(description="online", ordering="last_heartbeat_at")
    def online_badge(self, device: Device) -> str:
        if device.is_online:
            return format_html(
                '<span style="color:#fff;background:#2e7d32;padding:1px 6px;border-radius:8px">{}</span>', "online"
            )
        return format_html(
            '<span style="color:#fff;background:#9e9e9e;padding:1px 6px;border-radius:8px">{}</span>', "offline"
        )

    def _allowed(self, request) -> bool:
        if not user_has(request.user, "manage_devices"):
            self.message_user(request, "Needs the manage_devices permission.", messages.ERROR)
            return False
        return True

    @admin.action(description="Disable selected devices")
    def disable_devices(self, request, queryset):
        if self._allowed(request):
            for device in queryset:
                services.disable_device(device=device, actor=request.user, request=request)
            self.message_user(request, f"Disabled {queryset.count()} devices.")

    @admin.action(description="Enable selected devices")
    def enable_devices(self, request, queryset):
        if self._allowed(request):
            for device in queryset:
                services.enable_device(device=device, actor=request.user, request=request)
            self.message_user(request, f"Enabled {queryset.count()} devices.")

    @admin.action(description="Rotate credential (shown once)")
    def rotate_credentials(self, request, queryset):
        if not self._allowed(request):
            return
        for device in queryset:
            try:
                credential = services.rotate_credential(device=device, actor=request.user, request=request)
            except DomainError as exc:
                self.message_user(request, f"{device.serial}: {exc.message}", messages.ERROR)
                continue
            # The one time the plaintext is shown; it is not stored anywhere.
            self.message_user(request, f"{device.serial}: new credential {credential}", messages.WARNING)


@admin.register(DeviceGroup)
class DeviceGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "device_count", "updated_at"]
    search_fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(device_count=Count("devices"))

    @admin.display(ordering="device_count")
    def device_count(self, group) -> int:
        return group.device_count


@admin.register(RegistrationToken)
class RegistrationTokenAdmin(admin.ModelAdmin):
    list_display = ["label", "prefix", "expires_at", "uses", "max_uses", "room", "group", "revoked_at"]
    list_select_related = ["room", "group"]
    readonly_fields = ["prefix", "secret_hash", "uses", "created_by", "created_at", "updated_at", "revoked_at"]
    raw_id_fields = ["room"]
    actions = ["revoke_tokens"]

    def has_add_permission(self, request):
        return False  # made through the API, which shows the plaintext once

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request, queryset):
        for token in queryset:
            services.revoke_registration_token(token=token, actor=request.user, request=request)


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["device", "received_at", "cpu_percent", "memory_percent", "disk_percent", "temperature_c"]
    list_select_related = ["device"]
    raw_id_fields = ["device"]
    date_hierarchy = "received_at"
    show_full_result_count = False  # a large table; no COUNT(*) per page

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Bundle)
class BundleAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "channel", "size_bytes", "sha256", "created_at"]
    list_filter = ["channel", "name"]
    readonly_fields = ["size_bytes", "sha256", "uploaded_by", "created_at", "updated_at"]
    search_fields = ["name", "version"]

    def has_add_permission(self, request):
        return False  # uploads go through the API, which hashes while streaming


class TargetInline(admin.TabularInline):
    model = DeploymentTarget
    fields = ["device", "batch", "state", "attempts", "last_error", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("device")


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "bundle",
        "state",
        "current_batch",
        "targets_total",
        *[f"targets_{state.value}" for state in TargetState],
        "created_at",
    ]
    list_filter = ["state"]
    list_select_related = ["bundle"]
    readonly_fields = ["state", "state_reason", "current_batch", "started_at", "finished_at", "created_by"]
    inlines = [TargetInline]

    def get_queryset(self, request):
        counts = {
            f"targets_{state.value}": Count("targets", filter=Q(targets__state=state.value)) for state in TargetState
        }
        return super().get_queryset(request).annotate(targets_total=Count("targets"), **counts).order_by("-created_at")

    def has_add_permission(self, request):
        return False  # created through the API so targets are fixed by the service


def _count_column(state: str):
    def column(self, deployment) -> int:
        return getattr(deployment, f"targets_{state}")

    column.short_description = state
    column.admin_order_field = f"targets_{state}"
    return column


for _state in TargetState:
    setattr(DeploymentAdmin, f"targets_{_state.value}", _count_column(_state.value))
DeploymentAdmin.targets_total = admin.display(description="targets", ordering="targets_total")(
    lambda self, deployment: deployment.targets_total
)
