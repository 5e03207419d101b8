"""Every write with a business rule in the devices app.

API views, admin actions, Celery tasks and management commands call these;
none of them writes device rows by itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.services import record_audit_event
from config.errors import Conflict, InvalidInput, NotAllowed, NotFound, PayloadTooLarge
from config.ratelimits import Bucket, Outage, RateLimit

from . import keys
from .choices import (
    TARGET_FINISHED,
    TARGET_IN_PROGRESS,
    DeploymentState,
    DeviceState,
    TargetSelector,
    TargetState,
)
from .metrics import DEVICES_WENT_OFFLINE, HEARTBEATS_RECEIVED
from .models import (
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

logger = logging.getLogger("campus.devices")


# --- Registration tokens ---------------------------------------------------


@transaction.atomic
def create_registration_token(
    *,
    actor=None,
    label: str = "",
    expires_at: datetime | None = None,
    max_uses: int = 1,
    room=None,
    group: DeviceGroup | None = None,
    request=None,
) -> tuple[RegistrationToken, str]:
    """Makes a token; returns it with the plaintext, which is never shown again."""
    now = timezone.now()
    expires_at = expires_at or now + timedelta(days=1)
    if expires_at <= now:
        raise InvalidInput("The expiry must be in the future.", details={"expires_at": ["Must be in the future."]})
    issued = keys.issue()
    token = RegistrationToken(
        label=label,
        prefix=issued.prefix,
        secret_hash=issued.secret_hash,
        expires_at=expires_at,
        max_uses=max_uses,
        room=room,
        group=group,
        created_by=actor if actor is not None and actor.pk else None,
    )
    token.full_clean()
    token.save()
    record_audit_event(
        action="devices.token_created",
        actor=actor,
        target=f"registration_token:{token.pk}",
        request=request,
        details={"prefix": token.prefix, "max_uses": max_uses, "expires_at": expires_at.isoformat()},
    )
    return token, issued.plaintext


@transaction.atomic
def revoke_registration_token(*, token: RegistrationToken, actor=None, request=None) -> RegistrationToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
        record_audit_event(
            action="devices.token_revoked", actor=actor, target=f"registration_token:{token.pk}", request=request
        )
    return token


def _token_for(plaintext: str, *, now: datetime) -> RegistrationToken:
    """The usable token for `plaintext` (not locked: see `_claim_use`), or NotAllowed saying why not."""
    parts = keys.split(plaintext)
    token = None
    if parts is not None:
        token = RegistrationToken.objects.filter(prefix=parts[0]).first()
    if token is None or not keys.matches(parts[1], token.secret_hash):
        raise NotAllowed("The registration token is not valid.", code="registration_token_invalid")
    if token.revoked_at is not None:
        raise NotAllowed("The registration token has been revoked.", code="registration_token_revoked")
    if token.expires_at <= now:
        raise NotAllowed("The registration token has expired.", code="registration_token_expired")
    if token.uses >= token.max_uses:
        raise NotAllowed("The registration token has been used up.", code="registration_token_used_up")
    return token


def _claim_use(token: RegistrationToken, *, now: datetime) -> None:
    """Spends one use with a conditional UPDATE, or refuses if another registration took the last.

    Called as the last statement of the registration's transaction: the row lock
    it takes is held only until the commit, so registrations with one token do
    not queue behind each other's whole transaction.
    """
    claimed = RegistrationToken.objects.filter(
        pk=token.pk, revoked_at__isnull=True, expires_at__gt=now, uses__lt=F("max_uses")
    ).update(uses=F("uses") + 1, updated_at=now)
    if not claimed:
        raise NotAllowed("The registration token has been used up.", code="registration_token_used_up")


# --- Devices and credentials ----------------------------------------------


def _issue_credential(device: Device) -> str:
    """Revokes the device's live credential (if any) and issues a new one."""
    now = timezone.now()
    DeviceCredential.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=now)
    for _ in range(3):  # a 48-bit prefix collision is rare; retry rather than fail
        issued = keys.issue()
        try:
            with transaction.atomic():
                DeviceCredential.objects.create(device=device, prefix=issued.prefix, secret_hash=issued.secret_hash)
            return issued.plaintext
        except IntegrityError:
            continue
    raise Conflict("Could not issue a unique credential; try again.")


# Registration hands out credentials, so it fails closed like sign-in. Not the general
# anonymous throttle: a site registering a rack of devices from behind one address
# needs its own cap.
REGISTRATION_LIMIT = RateLimit(
    name="device registration",
    on_outage=Outage.FAIL_CLOSED,
    message="Too many registrations from this address; try again in a minute.",
    unavailable_message="Device registration is unavailable; try again shortly.",
)


def check_registration_rate(*, ip: str) -> None:
    """At most DEVICE_REGISTRATIONS_PER_IP_PER_MINUTE registrations a minute from one address."""
    rate = f"{settings.DEVICE_REGISTRATIONS_PER_IP_PER_MINUTE}/m"
    REGISTRATION_LIMIT.enforce([Bucket("devices.register.ip", ip, rate)])


@dataclass(frozen=True)
class Registration:
    device: Device
    credential: str
    created: bool


def _holds_live_credential(device: Device, presented: str) -> bool:
    """True when `device` has no live credential, or `presented` is one of them."""
    live = list(DeviceCredential.objects.filter(device=device, revoked_at__isnull=True))
    if not live:
        return True
    parts = keys.split(presented or "")
    if parts is None:
        return False
    prefix, secret = parts
    return any(credential.prefix == prefix and keys.matches(secret, credential.secret_hash) for credential in live)


def register_device(
    *,
    token: str,
    serial: str,
    name: str = "",
    kind: str | None = None,
    agent_version: str = "",
    bundle_version: str = "",
    hardware_info: dict | None = None,
    ip: str | None = None,
    current_credential: str = "",
) -> Registration:
    """A device registers itself with a token; the same serial again rotates its credential.

    A serial with a live credential re-registers only by presenting it: a token
    alone must not let anyone take over (and cut off) a real device. An admin's
    revoke-credential clears the way for a device that lost it.
    """
    serial = (serial or "").strip()
    if not serial:
        raise InvalidInput("A serial is required.", details={"serial": ["This field is required."]})
    now = timezone.now()
    with transaction.atomic():
        reg_token = _token_for(token, now=now)
        device = Device.objects.select_for_update().filter(serial=serial).first()
        created = device is None
        if device is None:
            device = Device(serial=serial, state=DeviceState.PENDING)
        elif device.state == DeviceState.DISABLED:
            raise NotAllowed("This device is disabled; an admin must enable it first.", code="device_disabled")
        elif not _holds_live_credential(device, current_credential):
            raise NotAllowed(
                "This serial is registered. Send its current credential as current_credential,"
                " or have an admin revoke it (devices/{id}/revoke-credential) first.",
                code="device_already_registered",
            )
        device.name = name or device.name or serial
        if kind:
            device.kind = kind
        device.room = device.room or reg_token.room
        device.group = device.group or reg_token.group
        device.agent_version = agent_version or device.agent_version
        device.bundle_version = bundle_version or device.bundle_version
        if hardware_info is not None:
            device.hardware_info = hardware_info
        device.state = DeviceState.ACTIVE
        device.registered_at = now
        device.last_ip = ip or device.last_ip
        device.full_clean(validate_unique=False)
        try:
            with transaction.atomic():
                device.save()
        except IntegrityError:  # the same serial registering twice at the same moment
            raise Conflict("This serial is registering already; try again.", code="registration_in_progress") from None
        credential = _issue_credential(device)
        record_audit_event(
            action="devices.registered" if created else "devices.reregistered",
            actor_label=f"device:{serial}",
            target=f"device:{device.pk}",
            details={"token_prefix": reg_token.prefix, "ip": ip},
        )
        _claim_use(reg_token, now=now)
    return Registration(device=device, credential=credential, created=created)


@transaction.atomic
def provision_devices(*, serials: list[str], actor=None, actor_label: str = "", **fields: Any) -> dict[str, str]:
    """Creates active devices with credentials in bulk (factory provisioning, load tests).

    Returns {serial: credential}; the plaintexts are not stored. Serials that exist already are refused.
    """
    if len(set(serials)) != len(serials):
        raise InvalidInput("Serials must be unique.", details={"serials": ["Duplicates given."]})
    taken = sorted(Device.objects.filter(serial__in=serials).values_list("serial", flat=True))
    if taken:
        raise Conflict(f"{len(taken)} serials exist already.", code="serial_exists", details={"serials": taken[:20]})
    now = timezone.now()
    devices = Device.objects.bulk_create(
        Device(serial=serial, name=serial, state=DeviceState.ACTIVE, registered_at=now, **fields) for serial in serials
    )
    issued = {device.serial: keys.issue() for device in devices}
    DeviceCredential.objects.bulk_create(
        DeviceCredential(
            device=device, prefix=issued[device.serial].prefix, secret_hash=issued[device.serial].secret_hash
        )
        for device in devices
    )
    record_audit_event(
        action="devices.provisioned",
        actor=actor,
        actor_label=actor_label,
        target=f"devices:{len(devices)}",
        details={"count": len(devices), "first_serial": serials[0] if serials else None},
    )
    return {serial: secret.plaintext for serial, secret in issued.items()}


@transaction.atomic
def create_device(*, actor=None, request=None, **fields: Any) -> Device:
    """Staff pre-create a device (pending until it registers)."""
    device = Device(**fields)
    device.state = DeviceState.PENDING
    device.full_clean()
    device.save()
    record_audit_event(action="devices.created", actor=actor, target=f"device:{device.pk}", request=request)
    return device


@transaction.atomic
def update_device(*, device: Device, actor=None, request=None, **fields: Any) -> Device:
    for name, value in fields.items():
        setattr(device, name, value)
    device.full_clean()
    device.save()
    record_audit_event(
        action="devices.updated",
        actor=actor,
        target=f"device:{device.pk}",
        request=request,
        details={"fields": sorted(fields)},
    )
    return device


@transaction.atomic
def delete_device(*, device: Device, actor=None, request=None) -> None:
    """Deletes a device with its credentials and history (bound cameras keep existing, unbound)."""
    pk, serial = device.pk, device.serial
    device.delete()
    record_audit_event(
        action="devices.deleted", actor=actor, target=f"device:{pk}", request=request, details={"serial": serial}
    )


@transaction.atomic
def rotate_credential(*, device: Device, actor=None, request=None) -> str:
    """A new credential for `device` (the old one stops working at once); returns the plaintext."""
    if device.state == DeviceState.DISABLED:
        raise Conflict("Enable the device before giving it a credential.", code="device_disabled")
    plaintext = _issue_credential(device)
    if device.state == DeviceState.PENDING:
        Device.objects.filter(pk=device.pk).update(state=DeviceState.ACTIVE, registered_at=timezone.now())
        device.state = DeviceState.ACTIVE
    record_audit_event(action="devices.credential_rotated", actor=actor, target=f"device:{device.pk}", request=request)
    return plaintext


@transaction.atomic
def revoke_credentials(*, device: Device, actor=None, request=None) -> int:
    count = DeviceCredential.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=timezone.now())
    record_audit_event(
        action="devices.credential_revoked",
        actor=actor,
        target=f"device:{device.pk}",
        request=request,
        details={"revoked": count},
    )
    return count


@transaction.atomic
def disable_device(*, device: Device, actor=None, request=None) -> Device:
    if device.state != DeviceState.DISABLED:
        device.state = DeviceState.DISABLED
        device.disabled_at = timezone.now()
        device.marked_online = False
        device.save(update_fields=["state", "disabled_at", "marked_online", "updated_at"])
        record_audit_event(action="devices.disabled", actor=actor, target=f"device:{device.pk}", request=request)
    return device


@transaction.atomic
def enable_device(*, device: Device, actor=None, request=None) -> Device:
    if device.state == DeviceState.DISABLED:
        has_credential = device.credentials.filter(revoked_at__isnull=True).exists()
        device.state = DeviceState.ACTIVE if has_credential else DeviceState.PENDING
        device.disabled_at = None
        device.save(update_fields=["state", "disabled_at", "updated_at"])
        record_audit_event(action="devices.enabled", actor=actor, target=f"device:{device.pk}", request=request)
    return device


# --- Heartbeats and online state -------------------------------------------


# Heartbeats are telemetry and fail open: refusing every device's heartbeat while the
# cache is down would mark the whole fleet offline for a cache outage.
HEARTBEAT_LIMIT = RateLimit(name="heartbeat", on_outage=Outage.FAIL_OPEN)


def check_heartbeat_rate(device: Device) -> None:
    """At most DEVICE_HEARTBEAT_MAX_PER_MINUTE per device per minute; 429 with Retry-After beyond it."""
    limit = settings.DEVICE_HEARTBEAT_MAX_PER_MINUTE
    HEARTBEAT_LIMIT.enforce(
        [Bucket("devices.heartbeat", f"device:{device.pk}", f"{limit}/m")],
        message=f"At most {limit} heartbeats a minute per device.",
        details={"limit_per_minute": limit},
    )


_HEARTBEAT_METRICS = ("uptime_seconds", "cpu_percent", "memory_percent", "disk_percent", "temperature_c")


@dataclass(frozen=True)
class HeartbeatResult:
    heartbeat: Heartbeat
    config_version: str
    target: DeploymentTarget | None


def record_heartbeat(*, device: Device, ip: str | None = None, data: dict[str, Any]) -> HeartbeatResult:
    """Stores a heartbeat, copies its values onto the device and marks it online.

    `data` holds validated values (see the heartbeat serializer); rate-limited per device.
    """
    check_heartbeat_rate(device)
    now = timezone.now()
    values = {name: data.get(name) for name in _HEARTBEAT_METRICS}
    agent_version = data.get("agent_version") or device.agent_version
    bundle_version = data.get("bundle_version") or device.bundle_version
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Telemetry: losing the last moment of heartbeats in a database crash is
            # harmless, and not waiting for the WAL flush halves a heartbeat's time.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        heartbeat = Heartbeat.objects.create(
            device=device,
            received_at=now,
            ip=ip,
            status=data.get("status") or {},
            agent_version=agent_version,
            bundle_version=bundle_version,
            **values,
        )
        # One UPDATE, no read-modify-write: concurrent heartbeats cannot lose a field.
        Device.objects.filter(pk=device.pk).update(
            last_heartbeat_at=now,
            last_ip=ip,
            marked_online=True,
            last_status=heartbeat.status,
            agent_version=agent_version,
            bundle_version=bundle_version,
            **values,
        )
    was_online = device.marked_online
    device.last_heartbeat_at, device.marked_online = now, True
    if not was_online:
        logger.info("device online", extra={"event": "device_online", "device_id": device.pk, "serial": device.serial})
    HEARTBEATS_RECEIVED.inc()
    target = open_target_for(device) if any_running_deployment() else None
    return HeartbeatResult(heartbeat=heartbeat, config_version=config_version(device), target=target)


# A heartbeat must stay cheap: two answers it gives are cached briefly.
RUNNING_DEPLOYMENTS_KEY = "devices:any-running-deployment"
RUNNING_DEPLOYMENTS_TTL = 30
CONFIG_VERSION_TTL = 60


def any_running_deployment() -> bool:
    """Whether any deployment runs; cached, and cleared by every deployment transition."""
    running = cache.get(RUNNING_DEPLOYMENTS_KEY)
    if running is None:
        running = Deployment.objects.filter(state=DeploymentState.RUNNING).exists()
        cache.set(RUNNING_DEPLOYMENTS_KEY, running, RUNNING_DEPLOYMENTS_TTL)
    return running


def config_version(device: Device) -> str:
    """The version of the device's config, cached under the device's and group's `updated_at`.

    Edits to device or group overrides change the key, so they show at once; a
    camera bound or unbound shows within CONFIG_VERSION_TTL seconds.
    """
    group_stamp = device.group.updated_at.timestamp() if device.group_id else 0
    key = f"devices:config-version:{device.pk}:{device.updated_at.timestamp()}:{device.group_id}:{group_stamp}"
    version = cache.get(key)
    if version is None:
        version = device_config(device)[1]
        cache.set(key, version, CONFIG_VERSION_TTL)
    return version


def open_target_for(device: Device) -> DeploymentTarget | None:
    """The oldest released, unfinished deployment target of `device` in a running deployment."""
    return (
        DeploymentTarget.objects.filter(
            device=device,
            state__in=TARGET_IN_PROGRESS,
            deployment__state=DeploymentState.RUNNING,
            batch__lte=F("deployment__current_batch"),
        )
        .select_related("deployment__bundle")
        .order_by("deployment__created_at", "id")
        .first()
    )


def mark_offline_devices(*, now: datetime | None = None) -> list[int]:
    """Marks devices without a recent heartbeat offline; logs and counts each one once."""
    since = online_since(now)
    stale = Device.objects.filter(marked_online=True).filter(
        Q(last_heartbeat_at__lt=since) | Q(last_heartbeat_at__isnull=True)
    )
    went_offline = []
    for device_id, serial, last_seen in stale.values_list("id", "serial", "last_heartbeat_at"):
        # Conditional UPDATE: a heartbeat that lands meanwhile keeps the device online,
        # and a second run of the task finds nothing to do.
        changed = (
            Device.objects.filter(pk=device_id, marked_online=True)
            .filter(Q(last_heartbeat_at__lt=since) | Q(last_heartbeat_at__isnull=True))
            .update(marked_online=False)
        )
        if changed:
            went_offline.append(device_id)
            DEVICES_WENT_OFFLINE.inc()
            logger.warning(
                "device offline",
                extra={
                    "event": "device_offline",
                    "device_id": device_id,
                    "serial": serial,
                    "last_heartbeat_at": last_seen.isoformat() if last_seen else None,
                },
            )
    return went_offline


def prune_heartbeats(*, now: datetime, dry_run: bool = False) -> int:
    """Deletes heartbeats older than DEVICE_HEARTBEAT_RETENTION_DAYS (a retention purger)."""
    cutoff = now - timedelta(days=settings.DEVICE_HEARTBEAT_RETENTION_DAYS)
    old = Heartbeat.objects.filter(received_at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted = 0
    while True:  # in chunks, so a large backlog never holds one huge transaction
        ids = list(old.values_list("id", flat=True)[:5000])
        if not ids:
            return deleted
        deleted += Heartbeat.objects.filter(id__in=ids).delete()[0]


def expire_registration_tokens(*, now: datetime | None = None, keep_days: int = 7) -> int:
    """Deletes tokens that expired (or were used up) more than `keep_days` ago."""
    cutoff = (now or timezone.now()) - timedelta(days=keep_days)
    stale = RegistrationToken.objects.filter(
        Q(expires_at__lt=cutoff) | Q(uses__gte=F("max_uses"), updated_at__lt=cutoff) | Q(revoked_at__lt=cutoff)
    )
    return stale.delete()[0]


# --- Config ------------------------------------------------------------------


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _bound_camera_ids(device: Device) -> list[int]:
    """Ids of the cameras bound to the device (cameras holds the FK; devices never imports it)."""
    if not apps.is_installed("cameras") or not hasattr(device, "cameras"):
        return []
    return sorted(device.cameras.values_list("id", flat=True))


def device_config(device: Device) -> tuple[dict, str]:
    """Global defaults, then the group's overrides, then the device's: (document, version).

    `cameras` lists the cameras bound to the device, so it knows where to push frames.

    The version is a hash of the merged document, so it changes exactly when
    the content does and serves as the ETag.
    """
    merged = _merge(settings.DEVICE_CONFIG_DEFAULTS, device.group.config_overrides if device.group_id else {})
    merged = _merge(merged, device.config_overrides)
    merged["cameras"] = _bound_camera_ids(device)
    canonical = json.dumps(merged, sort_keys=True, separators=(",", ":"))
    return merged, hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --- Bundles -----------------------------------------------------------------


class _HashingFile(File):
    """Hashes and counts the bytes as storage reads them, so the upload is read once."""

    def __init__(self, file, name=None):
        super().__init__(file, name)
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def chunks(self, chunk_size=None):
        for chunk in super().chunks(chunk_size):
            self.sha256.update(chunk)
            self.bytes_read += len(chunk)
            yield chunk


@transaction.atomic
def create_bundle(
    *,
    upload,
    name: str,
    version: str,
    channel: str,
    notes: str = "",
    min_agent_version: str = "",
    actor=None,
    request=None,
) -> Bundle:
    """Stores an uploaded bundle, computing its SHA-256 and size while it streams to storage."""
    limit = settings.DEVICE_MAX_BUNDLE_BYTES
    if upload.size is not None and upload.size > limit:
        raise PayloadTooLarge(
            f"The bundle is {upload.size} bytes; the limit is {limit}.", details={"limit_bytes": limit}
        )
    if upload.size == 0:
        raise InvalidInput("The bundle file is empty.", details={"file": ["The file is empty."]})
    if Bundle.objects.filter(name=name, version=version).exists():
        raise Conflict(f"Bundle {name} {version} already exists.", code="bundle_exists")
    bundle = Bundle(
        name=name,
        version=version,
        channel=channel,
        notes=notes,
        min_agent_version=min_agent_version,
        size_bytes=0,
        sha256="0" * 64,
        uploaded_by=actor if actor is not None and actor.pk else None,
    )
    hashing = _HashingFile(upload, name=upload.name)
    bundle.file.save(f"{name}-{version}.bundle", hashing, save=False)
    bundle.size_bytes = hashing.bytes_read
    bundle.sha256 = hashing.sha256.hexdigest()
    try:
        bundle.full_clean()
        bundle.save()
    except Exception:
        bundle.file.delete(save=False)  # no orphan file when the row is refused
        raise
    record_audit_event(
        action="devices.bundle_uploaded",
        actor=actor,
        target=f"bundle:{bundle.pk}",
        request=request,
        details={"name": name, "version": version, "sha256": bundle.sha256, "size_bytes": bundle.size_bytes},
    )
    return bundle


@transaction.atomic
def delete_bundle(*, bundle: Bundle, actor=None, request=None) -> None:
    if bundle.deployments.exists():
        raise Conflict("The bundle is used by deployments; it cannot be deleted.", code="bundle_in_use")
    pk = bundle.pk
    file_name = bundle.file.name
    bundle.delete()
    storage = bundle.file.storage
    transaction.on_commit(lambda: storage.delete(file_name))
    record_audit_event(action="devices.bundle_deleted", actor=actor, target=f"bundle:{pk}", request=request)


# --- Deployments -------------------------------------------------------------

# The one table of deployment moves; `transition_deployment` refuses the rest.
DEPLOYMENT_TRANSITIONS: dict[str, set[str]] = {
    DeploymentState.DRAFT: {DeploymentState.RUNNING, DeploymentState.CANCELLED},
    DeploymentState.RUNNING: {
        DeploymentState.PAUSED,
        DeploymentState.COMPLETED,
        DeploymentState.FAILED,
        DeploymentState.CANCELLED,
    },
    DeploymentState.PAUSED: {DeploymentState.RUNNING, DeploymentState.CANCELLED},
    DeploymentState.FAILED: {DeploymentState.RUNNING},  # by retrying failed targets
    DeploymentState.COMPLETED: set(),
    DeploymentState.CANCELLED: set(),
}


def transition_deployment(*, deployment: Deployment, to: str, reason: str = "") -> Deployment:
    """Moves a (locked) deployment to `to`, or raises Conflict for a move the table refuses."""
    current = deployment.state
    if to not in DEPLOYMENT_TRANSITIONS[current]:
        raise Conflict(
            f"A {current} deployment cannot become {to}.",
            code="invalid_transition",
            details={"from": current, "to": to},
        )
    now = timezone.now()
    deployment.state = to
    deployment.state_reason = reason[:300]
    fields = ["state", "state_reason", "updated_at"]
    if to == DeploymentState.RUNNING and deployment.started_at is None:
        deployment.started_at = now
        fields.append("started_at")
    if to in (DeploymentState.COMPLETED, DeploymentState.FAILED, DeploymentState.CANCELLED):
        deployment.finished_at = now
        fields.append("finished_at")
    elif deployment.finished_at is not None:
        deployment.finished_at = None
        fields.append("finished_at")
    deployment.save(update_fields=fields)
    # Now, so this request's own heartbeats see it, and after commit, so no heartbeat
    # that read the old state in between leaves it cached.
    cache.delete(RUNNING_DEPLOYMENTS_KEY)
    transaction.on_commit(lambda: cache.delete(RUNNING_DEPLOYMENTS_KEY))
    logger.info(
        "deployment state",
        extra={
            "event": "deployment_state",
            "deployment_id": deployment.pk,
            "from": current,
            "to": to,
            "reason": reason,
        },
    )
    return deployment


def _locked(deployment: Deployment) -> Deployment:
    return Deployment.objects.select_for_update().select_related("bundle").get(pk=deployment.pk)


def devices_for_selector(*, selector: str, device_ids=None, group=None, label: str = ""):
    devices = Device.objects.exclude(state=DeviceState.DISABLED)
    if selector == TargetSelector.LIST:
        return devices.filter(pk__in=device_ids or [])
    if selector == TargetSelector.GROUP:
        return devices.filter(group=group)
    if selector == TargetSelector.LABEL:
        return devices.filter(labels__contains=[label])
    raise InvalidInput(f"Unknown selector {selector!r}.", details={"selector": ["Unknown selector."]})


@transaction.atomic
def create_deployment(
    *,
    bundle: Bundle,
    selector: str,
    device_ids: list[int] | None = None,
    group: DeviceGroup | None = None,
    label: str = "",
    name: str = "",
    batch_size: int = 10,
    failure_threshold_percent: int = 20,
    max_attempts: int = 3,
    actor=None,
    request=None,
) -> Deployment:
    """A draft deployment with its targets fixed now, in batches of `batch_size` by serial."""
    if selector == TargetSelector.GROUP and group is None:
        raise InvalidInput("A group deployment needs a group.", details={"group": ["This field is required."]})
    if selector == TargetSelector.LABEL and not label:
        raise InvalidInput("A label deployment needs a label.", details={"label": ["This field is required."]})
    if selector == TargetSelector.LIST:
        found = set(Device.objects.filter(pk__in=device_ids or []).values_list("pk", flat=True))
        missing = sorted(set(device_ids or []) - found)
        if missing:
            raise InvalidInput("Some devices do not exist.", details={"device_ids": missing})
    devices = list(
        devices_for_selector(selector=selector, device_ids=device_ids, group=group, label=label)
        .order_by("serial")
        .values_list("pk", flat=True)
    )
    if not devices:
        raise InvalidInput("The deployment selects no (enabled) devices.", code="no_targets")
    deployment = Deployment(
        bundle=bundle,
        selector=selector,
        group=group,
        label=label,
        name=name,
        batch_size=batch_size,
        failure_threshold_percent=failure_threshold_percent,
        max_attempts=max_attempts,
        created_by=actor if actor is not None and actor.pk else None,
    )
    deployment.full_clean()
    deployment.save()
    DeploymentTarget.objects.bulk_create(
        DeploymentTarget(deployment=deployment, device_id=device_id, batch=index // batch_size)
        for index, device_id in enumerate(devices)
    )
    record_audit_event(
        action="devices.deployment_created",
        actor=actor,
        target=f"deployment:{deployment.pk}",
        request=request,
        details={"bundle": str(bundle), "targets": len(devices), "selector": selector},
    )
    return deployment


def _audited_move(
    deployment: Deployment, to: str, *, action: str, actor, request, reason: str = "", only_from: str | None = None
) -> Deployment:
    with transaction.atomic():
        locked = _locked(deployment)
        if only_from is not None and locked.state != only_from:
            # start is for drafts and resume for paused ones, though both lead to running
            raise Conflict(
                f"Only a {only_from} deployment can do that; this one is {locked.state}.",
                code="invalid_transition",
                details={"from": locked.state, "to": to},
            )
        transition_deployment(deployment=locked, to=to, reason=reason)
        if to == DeploymentState.RUNNING:
            advance_rollout(locked)
        record_audit_event(action=action, actor=actor, target=f"deployment:{locked.pk}", request=request)
    return locked


def start_deployment(*, deployment: Deployment, actor=None, request=None) -> Deployment:
    """Draft -> running: releases the first batch."""
    return _audited_move(
        deployment,
        DeploymentState.RUNNING,
        action="devices.deployment_started",
        actor=actor,
        request=request,
        only_from=DeploymentState.DRAFT,
    )


def pause_deployment(
    *, deployment: Deployment, actor=None, request=None, reason: str = "paused by staff"
) -> Deployment:
    return _audited_move(
        deployment,
        DeploymentState.PAUSED,
        action="devices.deployment_paused",
        actor=actor,
        request=request,
        reason=reason,
    )


def resume_deployment(*, deployment: Deployment, actor=None, request=None) -> Deployment:
    """Paused -> running; pauses again at once if failures are still over the threshold."""
    return _audited_move(
        deployment,
        DeploymentState.RUNNING,
        action="devices.deployment_resumed",
        actor=actor,
        request=request,
        only_from=DeploymentState.PAUSED,
    )


def cancel_deployment(*, deployment: Deployment, actor=None, request=None) -> Deployment:
    return _audited_move(
        deployment,
        DeploymentState.CANCELLED,
        action="devices.deployment_cancelled",
        actor=actor,
        request=request,
        reason="cancelled by staff",
    )


@transaction.atomic
def retry_failed_targets(*, deployment: Deployment, actor=None, request=None) -> int:
    """Puts failed targets back to pending (attempts reset) and runs the deployment again."""
    locked = _locked(deployment)
    if locked.state in (DeploymentState.CANCELLED, DeploymentState.COMPLETED, DeploymentState.DRAFT):
        raise Conflict(f"A {locked.state} deployment cannot be retried.", code="invalid_transition")
    count = locked.targets.filter(state=TargetState.FAILED).update(
        state=TargetState.PENDING, attempts=0, finished_at=None, updated_at=timezone.now()
    )
    if count == 0:
        raise Conflict("No failed targets to retry.", code="nothing_to_retry")
    if locked.state != DeploymentState.RUNNING:
        transition_deployment(deployment=locked, to=DeploymentState.RUNNING, reason=f"retrying {count} targets")
    advance_rollout(locked)
    record_audit_event(
        action="devices.deployment_retried",
        actor=actor,
        target=f"deployment:{locked.pk}",
        request=request,
        details={"targets": count},
    )
    return count


def advance_rollout(deployment: Deployment) -> Deployment:
    """For a locked, running deployment: pause on too many failures, else release the next
    batch when the current one is finished, else finish."""
    if deployment.state != DeploymentState.RUNNING:
        return deployment
    while True:
        released = deployment.targets.filter(batch__lte=deployment.current_batch).aggregate(
            total=Count("id"),
            failed=Count("id", filter=Q(state=TargetState.FAILED)),
            open=Count("id", filter=Q(state__in=TARGET_IN_PROGRESS)),
        )
        if released["total"] and released["failed"] * 100 > deployment.failure_threshold_percent * released["total"]:
            return transition_deployment(
                deployment=deployment,
                to=DeploymentState.PAUSED,
                reason=f"{released['failed']} of {released['total']} released targets failed "
                f"(threshold {deployment.failure_threshold_percent}%)",
            )
        if released["open"]:
            return deployment
        if deployment.targets.filter(batch__gt=deployment.current_batch).exists():
            deployment.current_batch += 1
            deployment.save(update_fields=["current_batch", "updated_at"])
            continue  # an empty-looking batch is re-checked the same way
        if released["failed"]:
            return transition_deployment(
                deployment=deployment, to=DeploymentState.FAILED, reason=f"{released['failed']} targets failed"
            )
        return transition_deployment(deployment=deployment, to=DeploymentState.COMPLETED)


# Moves a device may report for its target; a repeat of the current state is a no-op.
TARGET_TRANSITIONS: dict[str, set[str]] = {
    TargetState.PENDING: {TargetState.DOWNLOADING, TargetState.FAILED},
    TargetState.DOWNLOADING: {TargetState.INSTALLING, TargetState.FAILED},
    TargetState.INSTALLING: {TargetState.SUCCEEDED, TargetState.FAILED},
    TargetState.SUCCEEDED: set(),
    TargetState.FAILED: set(),
}


def target_for_device(*, device: Device, target_id: int) -> DeploymentTarget:
    """A device's own target; another device's is refused."""
    target = DeploymentTarget.objects.select_related("deployment__bundle").filter(pk=target_id).first()
    if target is None:
        raise NotFound("No such deployment target.")
    if target.device_id != device.pk:
        raise NotAllowed("This deployment target belongs to another device.")
    return target


def report_target_status(*, device: Device, target_id: int, state: str, error: str = "") -> DeploymentTarget:
    """A device reports progress on its own target; a failure is retried up to max_attempts."""
    with transaction.atomic():
        target_for_device(device=device, target_id=target_id)
        target = DeploymentTarget.objects.select_for_update().get(pk=target_id)
        deployment = _locked(target.deployment)
        target.deployment = deployment
        if deployment.state != DeploymentState.RUNNING or target.batch > deployment.current_batch:
            raise Conflict(
                f"The deployment is {deployment.state}; stop working on it.",
                code="deployment_not_running",
                details={"deployment_state": deployment.state},
            )
        if state == target.state:
            return target
        if state not in TARGET_TRANSITIONS[target.state]:
            raise Conflict(
                f"A {target.state} target cannot become {state}.",
                code="invalid_transition",
                details={"from": target.state, "to": state},
            )
        now = timezone.now()
        fields = ["state", "updated_at"]
        if state == TargetState.DOWNLOADING or (state == TargetState.FAILED and target.state == TargetState.PENDING):
            target.attempts += 1
            fields.append("attempts")
        if state == TargetState.FAILED:
            target.last_error = error[:2000] or "failed without a message"
            fields.append("last_error")
            if target.attempts < deployment.max_attempts:
                state = TargetState.PENDING  # offered again at the next heartbeat
        target.state = state
        if state in TARGET_FINISHED:
            target.finished_at = now
            fields.append("finished_at")
        target.save(update_fields=fields)
        if state == TargetState.SUCCEEDED:
            Device.objects.filter(pk=device.pk).update(bundle_version=deployment.bundle.version)
        advance_rollout(deployment)
    return target
