"""`Authorization: Device <credential>` for the device API (never a user JWT)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from . import keys
from .choices import DeviceState
from .models import DeviceCredential

KEYWORD = "Device"
# Writing last_used_at on every request would double the writes of a heartbeat.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class DevicePrincipal:
    """`request.user` for a device: authenticated, but with no campus permissions."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, device, credential=None):
        self.device = device
        self.credential = credential

    def has_campus_perm(self, codename: str) -> bool:
        return False

    def has_role_at_least(self, role: str) -> bool:
        return False

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return f"device:{self.device.serial}"


class DeviceCredentialAuthentication(BaseAuthentication):
    """Finds the credential by its clear prefix and checks the keyed hash of the rest.

    Unknown, malformed or revoked credentials are 401; a disabled device is 403.
    """

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the credential as `Authorization: Device <credential>`.")
        try:
            presented = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The credential is not valid.") from None
        parts = keys.split(presented)
        if parts is None:
            raise exceptions.AuthenticationFailed("The credential is not valid.")
        prefix, secret = parts
        credential = DeviceCredential.objects.select_related("device__group").filter(prefix=prefix).first()
        if credential is None or not keys.matches(secret, credential.secret_hash):
            raise exceptions.AuthenticationFailed("The credential is not valid.")
        if credential.revoked_at is not None:
            raise exceptions.AuthenticationFailed("The credential has been revoked.", code="credential_revoked")
        device = credential.device
        if device.state == DeviceState.DISABLED:
            raise exceptions.PermissionDenied("This device is disabled.")
        now = timezone.now()
        if credential.last_used_at is None or credential.last_used_at < now - LAST_USED_RESOLUTION:
            DeviceCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
        return DevicePrincipal(device, credential), credential

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="devices"'
