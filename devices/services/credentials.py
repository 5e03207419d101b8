"""Devices and their credentials: registration, provisioning, rotation, revocation, enable and disable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import record_audit_event, save_audited
from config.exceptions import Conflict, InvalidInput, NotAllowed
from config.ratelimits import Bucket, Outage, RateLimit

from .. import keys
from ..choices import DeviceState
from ..models import Device, DeviceCredential
from . import tokens

if TYPE_CHECKING:
    from django.http import HttpRequest

    from accounts.models import User


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
    hardware_info: dict[str, Any] | None = None,
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
        reg_token = tokens.usable_token(token, now=now)
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
        tokens.claim_use(reg_token, now=now)
    return Registration(device=device, credential=credential, created=created)


@transaction.atomic
def provision_devices(
    *, serials: list[str], actor: User | None = None, actor_label: str = "", **fields: Any
) -> dict[str, str]:
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
def create_device(*, actor: User | None = None, request: HttpRequest | None = None, **fields: Any) -> Device:
    """Staff pre-create a device (pending until it registers)."""
    device = Device(**fields)
    device.state = DeviceState.PENDING
    return save_audited(device, action="devices.created", kind="device", actor=actor, request=request)


@transaction.atomic
def update_device(
    *, device: Device, actor: User | None = None, request: HttpRequest | None = None, **fields: Any
) -> Device:
    for name, value in fields.items():
        setattr(device, name, value)
    changed = {"fields": sorted(fields)}
    return save_audited(device, action="devices.updated", kind="device", actor=actor, request=request, details=changed)


@transaction.atomic
def delete_device(*, device: Device, actor: User | None = None, request: HttpRequest | None = None) -> None:
    """Deletes a device with its credentials and history (bound cameras keep existing, unbound)."""
    pk, serial = device.pk, device.serial
    device.delete()
    record_audit_event(
        action="devices.deleted", actor=actor, target=f"device:{pk}", request=request, details={"serial": serial}
    )


@transaction.atomic
def rotate_credential(*, device: Device, actor: User | None = None, request: HttpRequest | None = None) -> str:
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
def revoke_credentials(*, device: Device, actor: User | None = None, request: HttpRequest | None = None) -> int:
    count = DeviceCredential.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=timezone.now())
    record_audit_event(
        action="devices.credential_revoked", actor=actor, target=f"device:{device.pk}", request=request,
        details={"revoked": count},
    )
    return count


@transaction.atomic
def disable_device(*, device: Device, actor: User | None = None, request: HttpRequest | None = None) -> Device:
    if device.state != DeviceState.DISABLED:
        device.state = DeviceState.DISABLED
        device.disabled_at = timezone.now()
        device.marked_online = False
        device.save(update_fields=["state", "disabled_at", "marked_online", "updated_at"])
        record_audit_event(action="devices.disabled", actor=actor, target=f"device:{device.pk}", request=request)
    return device


@transaction.atomic
def enable_device(*, device: Device, actor: User | None = None, request: HttpRequest | None = None) -> Device:
    if device.state == DeviceState.DISABLED:
        has_credential = device.credentials.filter(revoked_at__isnull=True).exists()
        device.state = DeviceState.ACTIVE if has_credential else DeviceState.PENDING
        device.disabled_at = None
        device.save(update_fields=["state", "disabled_at", "updated_at"])
        record_audit_event(action="devices.enabled", actor=actor, target=f"device:{device.pk}", request=request)
    return device
