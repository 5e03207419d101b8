"""Permission classes for the device API."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from .authentication import DevicePrincipal
from .choices import DeviceState


class IsDevice(BasePermission):
    """The request is from an active device presenting its own credential."""

    message = "This endpoint is for devices with an active credential."

    def has_permission(self, request, view) -> bool:
        principal = request.user
        return isinstance(principal, DevicePrincipal) and principal.device.state == DeviceState.ACTIVE
