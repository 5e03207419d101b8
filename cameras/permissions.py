"""Who may push frames to a camera: a user with manage_cameras, or the device bound to it."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from accounts.permissions import user_has
from devices.authentication import DevicePrincipal
from devices.choices import DeviceState


class CanPushFrames(BasePermission):
    message = "Only a user who manages cameras, or the device bound to this camera, may push its frames."

    def has_permission(self, request, view) -> bool:
        principal = request.user
        if isinstance(principal, DevicePrincipal):
            return principal.device.state == DeviceState.ACTIVE
        return user_has(principal, "manage_cameras")

    def has_object_permission(self, request, view, obj) -> bool:
        principal = request.user
        if isinstance(principal, DevicePrincipal):
            return obj.device_id is not None and obj.device_id == principal.device.pk
        return user_has(principal, "manage_cameras")
