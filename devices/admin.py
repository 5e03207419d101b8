"""Device fleet admin. Writes with a rule go through `devices.services`, as from the API."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.db.models import Count, Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin_permissions import RolePermissionsMixin, WrittenBySystemMixin
from accounts.permissions import user_has
from config.admin_lists import YesNoFilter, count_column, service_action
from config.exceptions import DomainError

from . import services
from .choices import DeviceState, TargetState
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


class OnlineFilter(YesNoFilter):
    title = "online"
    parameter_name = "online"
    yes_label, no_label = "Online", "Offline"

    def condition(self) -> Q:
        return Q(last_heartbeat_at__gte=online_since())


class AgentVersionFilter(admin.SimpleListFilter):
    title = "agent version"
    parameter_name = "agent_version"

    def lookups(self, request, model_admin):
        versions = Device.objects.order_by("agent_version").values_list("agent_version", flat=True).distinct()
        return [(v, v or "(none)") for v in versions[:50]]

    def queryset(self, request, queryset):
        return queryset.filter(agent_version=self.value()) if self.value() is not None else queryset


class DevicesAdmin(RolePermissionsMixin, admin.ModelAdmin):
    """The fleet is for admins (manage_devices); staff do not see it."""

    view_permission = change_permission = add_permission = delete_permission = "manage_devices"
    show_full_result_count = False


class CredentialInline(RolePermissionsMixin, admin.TabularInline):
    view_permission = "manage_devices"
    model = DeviceCredential
    fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Device)
class DeviceAdmin(DevicesAdmin):
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
    autocomplete_fields = ["room"]
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

    disable_devices = service_action(
        lambda device, request: services.disable_device(device=device, actor=request.user, request=request),
        description="Disable selected devices",
        done="Disabled {count} devices.",
        allowed=_allowed,
    )
    enable_devices = service_action(
        lambda device, request: services.enable_device(device=device, actor=request.user, request=request),
        description="Enable selected devices",
        done="Enabled {count} devices.",
        allowed=_allowed,
    )

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
class DeviceGroupAdmin(DevicesAdmin):
    list_display = ["name", "device_count", "updated_at"]
    search_fields = ["name"]

    device_count = count_column("device_count")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(device_count=Count("devices"))


def _tomorrow():
    return timezone.now() + dt.timedelta(days=1)


class RegistrationTokenForm(forms.ModelForm):
    expires_at = forms.SplitDateTimeField(
        initial=_tomorrow, widget=admin.widgets.AdminSplitDateTime, help_text="After this the token is refused."
    )

    class Meta:
        model = RegistrationToken
        fields = ["label", "expires_at", "max_uses", "room", "group"]
        help_texts = {
            "max_uses": "How many devices may register with it.",
            "room": "Devices registered with it are placed in this room.",
        }


@admin.register(RegistrationToken)
class RegistrationTokenAdmin(DevicesAdmin):
    form = RegistrationTokenForm
    list_display = ["label", "prefix", "expires_at", "uses", "max_uses", "room", "group", "revoked_at"]
    list_select_related = ["room", "group"]
    autocomplete_fields = ["room", "group"]
    actions = ["revoke_tokens"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["label", "prefix", "expires_at", "max_uses", "uses", "room", "group", "created_by", "created_at",
                "revoked_at"]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) if obj is not None else RegistrationTokenForm.Meta.fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = {name: form.cleaned_data[name] for name in RegistrationTokenForm.Meta.fields}
        token, plaintext = services.create_registration_token(actor=request.user, request=request, **data)
        obj.pk = token.pk
        obj.__dict__.update({k: v for k, v in token.__dict__.items() if not k.startswith("_")})
        # The one time the plaintext is shown; only its hash is stored.
        self.message_user(
            request,
            format_html("Registration token for “{}”: <code id=\"token-secret\">{}</code> — copy it now, "
                        "it is not shown again.", token.label or token.prefix, plaintext),
            messages.WARNING,
        )

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request, queryset):
        for token in queryset:
            services.revoke_registration_token(token=token, actor=request.user, request=request)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(Heartbeat)
class HeartbeatAdmin(WrittenBySystemMixin, DevicesAdmin):
    list_display = ["device", "received_at", "cpu_percent", "memory_percent", "disk_percent", "temperature_c"]
    list_select_related = ["device"]
    raw_id_fields = ["device"]
    date_hierarchy = "received_at"
    show_full_result_count = False  # a large table; no COUNT(*) per page


class BundleForm(forms.ModelForm):
    class Meta:
        model = Bundle
        fields = ["file", "name", "version", "channel", "notes", "min_agent_version"]


@admin.register(Bundle)
class BundleAdmin(DevicesAdmin):
    form = BundleForm
    list_display = ["name", "version", "channel", "size", "checksum", "created_at"]
    list_filter = ["channel", "name"]
    search_fields = ["name", "version"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return BundleForm.Meta.fields
        return ["name", "version", "channel", "notes", "min_agent_version", "size", "sha256", "uploaded_by",
                "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    @admin.display(description="size", ordering="size_bytes")
    def size(self, bundle) -> str:
        return filesizeformat(bundle.size_bytes)

    @admin.display(description="SHA-256")
    def checksum(self, bundle) -> str:
        return format_html('<code title="{}">{}…</code>', bundle.sha256, bundle.sha256[:16])

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = {name: form.cleaned_data[name] for name in BundleForm.Meta.fields if name != "file"}
        bundle = services.create_bundle(upload=form.cleaned_data["file"], actor=request.user, request=request, **data)
        obj.pk = bundle.pk
        obj.__dict__.update({k: v for k, v in bundle.__dict__.items() if not k.startswith("_")})
        self.message_user(
            request,
            format_html("Uploaded {} {}: {} bytes, SHA-256 <code id=\"bundle-sha256\">{}</code>.",
                        bundle.name, bundle.version, bundle.size_bytes, bundle.sha256),
            messages.SUCCESS,
        )

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)


class TargetInline(RolePermissionsMixin, admin.TabularInline):
    view_permission = "manage_devices"
    model = DeploymentTarget
    fields = ["device", "batch", "state", "attempts", "last_error", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("device")


class DeploymentForm(forms.ModelForm):
    devices = forms.ModelMultipleChoiceField(
        queryset=Device.objects.exclude(state=DeviceState.DISABLED).order_by("serial"), required=False,
        widget=FilteredSelectMultiple("devices", is_stacked=False),
        help_text="For “Listed devices”: the devices to update.",
    )

    class Meta:
        model = Deployment
        fields = ["name", "bundle", "selector", "devices", "group", "label", "batch_size",
                  "failure_threshold_percent", "max_attempts"]
        help_texts = {
            "batch_size": "Devices updated at once; the next batch starts when this one has finished.",
            "failure_threshold_percent": "The rollout stops when more than this share of a batch fails.",
        }


def _deployment_action(service, verb: str, description: str):
    """An admin action moving each selected deployment through `service`, as the API's POST does."""

    # "view", not "change": a deployment row is never changed, and viewing already needs manage_devices.
    @admin.action(description=description, permissions=["view"])
    def apply(modeladmin, request, queryset):
        modeladmin._each(request, queryset, service, verb)

    return apply


@admin.register(Deployment)
class DeploymentAdmin(DevicesAdmin):
    form = DeploymentForm
    # The rollout column sums up the per-state counts, so the list fits 1366 px.
    list_display = ["__str__", "bundle", "state", "progress", "current_batch", "created_at"]
    list_filter = ["state"]
    list_select_related = ["bundle"]
    autocomplete_fields = ["bundle", "group"]
    inlines = [TargetInline]
    actions = ["start", "pause", "resume", "cancel", "retry_failed"]
    targets_total = count_column("targets_total", "targets")

    def get_queryset(self, request):
        counts = {
            f"targets_{state.value}": Count("targets", filter=Q(targets__state=state.value)) for state in TargetState
        }
        return super().get_queryset(request).annotate(targets_total=Count("targets"), **counts).order_by("-created_at")

    SHOWN = ["name", "bundle", "selector", "group", "label", "batch_size", "failure_threshold_percent",
             "max_attempts", "state", "progress", "state_reason", "current_batch", "started_at", "finished_at",
             "created_by"]

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": DeploymentForm.Meta.fields})]
        # The rollout first, on one screen at 1366x768; the settings fold away.
        return [
            ("Rollout", {"fields": [("state", "progress"), ("current_batch", "started_at", "finished_at"),
                                    "state_reason"]}),
            ("What goes where", {"fields": [("name", "bundle"), ("selector", "group", "label")]}),
            ("Settings", {"classes": ["collapse"], "fields": ["batch_size", "failure_threshold_percent",
                                                              "max_attempts", "created_by"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.SHOWN

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_change_permission(self, request, obj=None):
        # Deployments move through the actions (start, pause...), never by editing the row.
        return super().has_change_permission(request, obj) and obj is None

    @admin.display(description="rollout")
    def progress(self, deployment) -> str:
        total = getattr(deployment, "targets_total", None)
        if total is None:
            total = deployment.targets.count()
            done = deployment.targets.filter(state=TargetState.SUCCEEDED).count()
            failed = deployment.targets.filter(state=TargetState.FAILED).count()
        else:
            done, failed = deployment.targets_succeeded, deployment.targets_failed
        return format_html(
            '<span class="rollout"><progress max="{}" value="{}"></progress> {} of {} updated{}</span>',
            total, done, done, total, format_html(", <strong>{} failed</strong>", failed) if failed else "",
        ) if total else "no devices"

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        deployment = services.create_deployment(
            bundle=data["bundle"], selector=data["selector"], device_ids=[d.pk for d in data["devices"]],
            group=data["group"], label=data["label"], name=data["name"], batch_size=data["batch_size"],
            failure_threshold_percent=data["failure_threshold_percent"], max_attempts=data["max_attempts"],
            actor=request.user, request=request,
        )
        obj.pk = deployment.pk
        obj.__dict__.update({k: v for k, v in deployment.__dict__.items() if not k.startswith("_")})
        self.message_user(request, "Created as a draft. Select it and choose “Start the rollout” to begin.",
                          messages.INFO)

    def _each(self, request, queryset, fn, verb: str) -> None:
        done = 0
        for deployment in queryset:
            try:
                fn(deployment=deployment, actor=request.user, request=request)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{deployment}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb} {done} deployment(s).", messages.SUCCESS)

    start = _deployment_action(services.start_deployment, "Started", "Start the rollout (first batch)")
    pause = _deployment_action(services.pause_deployment, "Paused", "Pause")
    resume = _deployment_action(services.resume_deployment, "Resumed", "Resume")
    cancel = _deployment_action(services.cancel_deployment, "Cancelled", "Cancel")
    retry_failed = _deployment_action(services.retry_failed_targets, "Retried", "Retry failed devices")



# A column per target state (targets_pending, targets_succeeded...), from the annotation in get_queryset.
for _state in TargetState:
    setattr(DeploymentAdmin, f"targets_{_state.value}", count_column(f"targets_{_state.value}", _state.value))
