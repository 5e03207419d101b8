"""Registration with tokens, credential rotation and revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from devices.choices import DeviceState
from devices.models import Device, DeviceCredential, RegistrationToken

from .conftest import device_client
from .factories import DeviceFactory, DeviceGroupFactory, make_token

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/devices/register"
HEARTBEAT = "/api/v1/devices/heartbeat"


def register(api_client, token: str, serial: str = "SN-NEW-1", **extra):
    return api_client.post(REGISTER, {"token": token, "serial": serial, **extra}, format="json")


def assert_refused(response, code: str) -> None:
    """403 in the error format, with `code`."""
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == code


def test_register_creates_active_device_and_returns_credential_once(api_client):
    group = DeviceGroupFactory()
    token, plaintext = make_token(group=group)

    response = register(api_client, plaintext, agent_version="2.1.0", hardware_info={"ram_mb": 2048})

    assert response.status_code == 201, response.json()
    body = response.json()
    device = Device.objects.get(serial="SN-NEW-1")
    assert body["device_id"] == device.pk and body["rotated"] is False
    assert device.state == DeviceState.ACTIVE
    assert device.group == group
    assert device.agent_version == "2.1.0" and device.hardware_info == {"ram_mb": 2048}
    credential = DeviceCredential.objects.get(device=device)
    # Only the prefix is stored in clear; the secret part is nowhere in the row.
    prefix, secret = body["credential"].split(".", 1)
    assert credential.prefix == prefix == body["credential_prefix"]
    assert secret not in credential.secret_hash
    token.refresh_from_db()
    assert token.uses == 1
    assert device_client(body["credential"]).post(HEARTBEAT, {}, format="json").status_code == 200


def test_same_serial_registering_again_rotates_the_credential(api_client):
    _, plaintext = make_token(max_uses=2)
    first = register(api_client, plaintext).json()["credential"]

    second = register(api_client, plaintext, current_credential=first)

    assert second.status_code == 200
    assert second.json()["rotated"] is True
    assert Device.objects.filter(serial="SN-NEW-1").count() == 1
    assert DeviceCredential.objects.filter(revoked_at__isnull=True).count() == 1
    assert device_client(first).post(HEARTBEAT, {}, format="json").status_code == 401
    assert device_client(second.json()["credential"]).post(HEARTBEAT, {}, format="json").status_code == 200


def test_expired_token_is_refused_and_changes_nothing(api_client):
    token, plaintext = make_token()
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = register(api_client, plaintext)

    assert_refused(response, "registration_token_expired")
    assert not Device.objects.exists()
    token.refresh_from_db()
    assert token.uses == 0


def test_token_is_refused_once_its_uses_are_spent(api_client):
    token, plaintext = make_token(max_uses=2)
    assert register(api_client, plaintext, serial="A1").status_code == 201
    assert register(api_client, plaintext, serial="A2").status_code == 201

    response = register(api_client, plaintext, serial="A3")

    assert_refused(response, "registration_token_used_up")
    assert sorted(Device.objects.values_list("serial", flat=True)) == ["A1", "A2"]
    token.refresh_from_db()
    assert token.uses == 2


def test_revoked_or_wrong_token_is_refused(api_client, staff_api):
    token, plaintext = make_token()
    assert register(api_client, plaintext[:-2] + "xx").json()["error"]["code"] == "registration_token_invalid"
    staff_api.post(f"/api/v1/devices/registration-tokens/{token.pk}/revoke")

    response = register(api_client, plaintext)

    assert_refused(response, "registration_token_revoked")
    assert not Device.objects.exists()


def test_disabled_device_cannot_reregister(api_client):
    DeviceFactory(serial="SN-OFF", state=DeviceState.DISABLED)
    token, plaintext = make_token()

    response = register(api_client, plaintext, serial="SN-OFF")

    assert_refused(response, "device_disabled")
    assert not DeviceCredential.objects.exists()
    token.refresh_from_db()
    assert token.uses == 0


def test_bad_register_input_is_400_in_the_error_format(api_client):
    _, plaintext = make_token()

    response = api_client.post(
        REGISTER, {"token": plaintext, "serial": "bad serial!", "hardware_info": [1]}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["details"]) == {"serial", "hardware_info"}
    assert error["request_id"]
    assert not Device.objects.exists()


def test_staff_token_create_shows_plaintext_once(staff_api):
    response = staff_api.post("/api/v1/devices/registration-tokens", {"label": "lab", "max_uses": 3}, format="json")

    assert response.status_code == 201, response.json()
    plaintext = response.json()["token"]
    token = RegistrationToken.objects.get()
    assert plaintext.startswith(token.prefix + ".")
    assert plaintext.split(".", 1)[1] not in token.secret_hash
    detail = staff_api.get(f"/api/v1/devices/registration-tokens/{token.pk}").json()
    assert "token" not in detail and detail["prefix"] == token.prefix


def test_staff_rotation_replaces_credential(staff_api, device, device_api):
    response = staff_api.post(f"/api/v1/devices/{device.pk}/rotate-credential")

    assert response.status_code == 200
    assert device_api.post(HEARTBEAT, {}, format="json").status_code == 401
    assert device_client(response.json()["credential"]).post(HEARTBEAT, {}, format="json").status_code == 200


def test_revoked_credential_is_401(staff_api, device, device_api):
    assert staff_api.post(f"/api/v1/devices/{device.pk}/revoke-credential").json() == {"revoked": 1}

    response = device_api.post(HEARTBEAT, {}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"].startswith("Device")


def test_disabled_device_is_403(staff_api, device, device_api):
    staff_api.post(f"/api/v1/devices/{device.pk}/disable")

    response = device_api.post(HEARTBEAT, {}, format="json")

    assert_refused(response, "permission_denied")
    device.refresh_from_db()
    assert device.last_heartbeat_at is None


def test_losing_the_race_for_the_last_use_rolls_the_registration_back(monkeypatch):
    from config.exceptions import NotAllowed
    from devices import services
    from devices.services import tokens

    token, plaintext = make_token(max_uses=1)
    stale = RegistrationToken.objects.get(pk=token.pk)  # read before the other registration committed
    RegistrationToken.objects.filter(pk=token.pk).update(uses=1)
    monkeypatch.setattr(tokens, "usable_token", lambda presented, now: stale)

    with pytest.raises(NotAllowed) as refused:
        services.register_device(token=plaintext, serial="RACE-1")

    assert refused.value.code == "registration_token_used_up"
    assert not Device.objects.filter(serial="RACE-1").exists()
    assert not DeviceCredential.objects.exists()


def test_registrations_are_capped_per_address(api_client, settings):
    settings.DEVICE_REGISTRATIONS_PER_IP_PER_MINUTE = 2
    _, plaintext = make_token(max_uses=10)
    with time_machine.travel(timezone.now().replace(second=1), tick=False):
        statuses = [register(api_client, plaintext, serial=f"CAP-{i}").status_code for i in range(3)]

    assert statuses == [201, 201, 429]
    assert Device.objects.filter(serial__startswith="CAP-").count() == 2


def test_registration_fails_closed_when_the_rate_limit_cache_is_down(api_client, ratelimit_cache_down):
    _, plaintext = make_token()

    response = register(api_client, plaintext, serial="DOWN-1")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "rate_limit_unavailable"
    assert response["Retry-After"] == "5"
    assert not Device.objects.filter(serial="DOWN-1").exists()


def test_a_token_alone_cannot_take_over_a_registered_serial(api_client):
    _, plaintext = make_token(max_uses=3)
    real = register(api_client, plaintext).json()["credential"]

    response = register(api_client, plaintext, current_credential="dev_x.not-the-credential")

    assert_refused(response, "device_already_registered")
    assert device_client(real).post(HEARTBEAT, {}, format="json").status_code == 200
    assert DeviceCredential.objects.filter(revoked_at__isnull=True).count() == 1


def test_after_an_admin_revokes_the_credential_the_token_registers_again(api_client, staff_api):
    _, plaintext = make_token(max_uses=2)
    register(api_client, plaintext)
    device = Device.objects.get(serial="SN-NEW-1")
    assert staff_api.post(f"/api/v1/devices/{device.pk}/revoke-credential").status_code == 200

    response = register(api_client, plaintext)

    assert response.status_code == 200, response.json()
    assert response.json()["rotated"] is True
