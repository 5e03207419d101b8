"""Heartbeats, online state, the offline task, config and its ETag."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from config.tasks import purge_expired
from devices import tasks
from devices.metrics import DEVICES_WENT_OFFLINE
from devices.models import Device, Heartbeat

from .conftest import device_client
from .factories import DeviceFactory, DeviceGroupFactory, give_credential

pytestmark = pytest.mark.django_db

HEARTBEAT = "/api/v1/devices/heartbeat"
CONFIG = "/api/v1/devices/config"


def test_heartbeat_stores_history_and_copies_latest_values(device, device_api):
    response = device_api.post(
        HEARTBEAT,
        {
            "uptime_seconds": 3600,
            "cpu_percent": 12.5,
            "memory_percent": 40,
            "disk_percent": 70,
            "temperature_c": 51.5,
            "agent_version": "2.0.1",
            "status": {"camera": "ok"},
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["deployment"] is None
    assert len(body["config_version"]) == 16
    beat = Heartbeat.objects.get(device=device)
    assert beat.cpu_percent == 12.5 and beat.status == {"camera": "ok"}
    device.refresh_from_db()
    assert device.is_online and device.marked_online
    assert device.cpu_percent == 12.5 and device.temperature_c == 51.5
    assert device.agent_version == "2.0.1"
    assert device.last_ip == "127.0.0.1"


def test_heartbeat_makes_device_online_and_beat_task_makes_it_offline(settings, device, device_api, caplog):
    settings.DEVICE_ONLINE_WINDOW_SECONDS = 60
    assert not device.is_online
    device_api.post(HEARTBEAT, {}, format="json")
    device.refresh_from_db()
    assert device.is_online
    assert tasks.mark_offline_devices.delay().get() == 0  # still inside the window

    before = DEVICES_WENT_OFFLINE._value.get()
    with time_machine.travel(timezone.now() + timedelta(seconds=61)), caplog.at_level(logging.WARNING):
        assert tasks.mark_offline_devices.delay().get() == 1
        # Idempotent: a second run logs and counts nothing more.
        assert tasks.mark_offline_devices.delay().get() == 0
        device.refresh_from_db()
        assert not device.is_online

    assert not device.marked_online
    assert DEVICES_WENT_OFFLINE._value.get() == before + 1
    events = [r for r in caplog.records if getattr(r, "event", None) == "device_offline"]
    assert len(events) == 1 and events[0].serial == device.serial


def test_heartbeats_are_rate_limited_per_device(settings, device, device_api):
    settings.DEVICE_HEARTBEAT_MAX_PER_MINUTE = 2
    other = device_client(give_credential(DeviceFactory()))
    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        assert device_api.post(HEARTBEAT, {}, format="json").status_code == 200
        assert device_api.post(HEARTBEAT, {}, format="json").status_code == 200
        response = device_api.post(HEARTBEAT, {}, format="json")
        assert other.post(HEARTBEAT, {}, format="json").status_code == 200

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    # The seconds left in the device's one-minute window (django-ratelimit offsets each bucket's window).
    assert 1 <= int(response["Retry-After"]) <= 60
    assert Heartbeat.objects.filter(device=device).count() == 2


def test_bad_heartbeat_is_400_and_stores_nothing(device, device_api):
    response = device_api.post(HEARTBEAT, {"cpu_percent": 250, "status": "fine"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"cpu_percent", "status"}
    assert not Heartbeat.objects.exists()


def test_user_jwt_is_refused_on_device_endpoints(client_for, make_user):
    admin = client_for(make_user(role="admin"))

    for method, url in (("post", HEARTBEAT), ("get", CONFIG), ("get", "/api/v1/devices/targets/1/bundle")):
        response = getattr(admin, method)(url)
        assert response.status_code == 401, url
        assert response.json()["error"]["code"] == "not_authenticated"


def test_device_credential_is_refused_on_staff_endpoints(device, device_api):
    other = DeviceFactory()
    for url in (
        "/api/v1/devices",
        f"/api/v1/devices/{other.pk}/config",
        f"/api/v1/devices/{device.pk}",
        "/api/v1/devices/summary",
        "/api/v1/devices/registration-tokens",
    ):
        response = device_api.get(url)
        assert response.status_code == 401, url
        assert "error" in response.json()


def test_device_cannot_read_another_devices_config(device, device_api):
    other = DeviceFactory(config_overrides={"secret_setting": "other"})

    refused = device_api.get(f"/api/v1/devices/{other.pk}/config")
    own = device_api.get(CONFIG)

    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert own.status_code == 200
    assert "secret_setting" not in own.json()["config"]


def test_config_merges_defaults_group_and_device(settings, device, device_api):
    settings.DEVICE_CONFIG_DEFAULTS = {"heartbeat_interval_seconds": 30, "camera": {"fps": 5, "width": 640}}
    device.group = DeviceGroupFactory(config_overrides={"camera": {"fps": 10}, "log_level": "debug"})
    device.config_overrides = {"camera": {"width": 1280}}
    device.save()

    body = device_api.get(CONFIG).json()

    assert body["config"] == {
        "heartbeat_interval_seconds": 30,
        "camera": {"fps": 10, "width": 1280},
        "log_level": "debug",
        "cameras": [],
    }


def test_config_etag_gives_304_until_it_changes(device, device_api, staff_api):
    first = device_api.get(CONFIG)
    etag = first["ETag"]
    assert etag == f'"{first.json()["version"]}"'

    unchanged = device_api.get(CONFIG, HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged["ETag"] == etag

    staff_api.patch(f"/api/v1/devices/{device.pk}", {"config_overrides": {"log_level": "debug"}}, format="json")
    changed = device_api.get(CONFIG, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert changed.json()["config"]["log_level"] == "debug"
    heartbeat = device_api.post(HEARTBEAT, {}, format="json").json()
    assert f'"{heartbeat["config_version"]}"' == changed["ETag"]


def test_prune_heartbeats_keeps_recent_ones(settings, device):
    settings.DEVICE_HEARTBEAT_RETENTION_DAYS = 7
    now = timezone.now()
    Heartbeat.objects.create(device=device, received_at=now - timedelta(days=8))
    recent = Heartbeat.objects.create(device=device, received_at=now - timedelta(days=6))

    # Their one schedule: the nightly purge (devices' own beat task ran the purger a second time).
    assert purge_expired.delay().get()["device_heartbeats"] == 1

    assert list(Heartbeat.objects.all()) == [recent]


def test_prune_heartbeats_is_a_registered_purger(device):
    from config.retention import registered_purgers

    Heartbeat.objects.create(device=device, received_at=timezone.now() - timedelta(days=400))
    purge = registered_purgers()["device_heartbeats"]
    assert purge(now=timezone.now(), dry_run=True) == 1
    assert Heartbeat.objects.count() == 1


def test_expire_registration_tokens_deletes_only_long_expired(db):
    from .factories import make_token

    old, _ = make_token(expires_at=timezone.now() - timedelta(days=8))
    fresh, _ = make_token()

    with time_machine.travel(timezone.now()):
        assert tasks.expire_registration_tokens.delay().get() == 1

    from devices.models import RegistrationToken

    assert list(RegistrationToken.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert old.pk not in RegistrationToken.objects.values_list("pk", flat=True)


def test_fleet_summary_counts_online_offline_and_versions(staff_api, settings):
    now = timezone.now()
    DeviceFactory(last_heartbeat_at=now, agent_version="2.0")
    DeviceFactory(last_heartbeat_at=now - timedelta(hours=1), agent_version="2.0")
    DeviceFactory(last_heartbeat_at=None, agent_version="1.9")
    DeviceFactory(state="disabled", last_heartbeat_at=now, agent_version="1.0")

    body = staff_api.get("/api/v1/devices/summary").json()

    assert body["total"] == 4
    assert body["online"] == 1 and body["offline"] == 2
    assert body["by_state"] == {"pending": 0, "active": 3, "disabled": 1}
    assert body["agent_versions"] == [{"version": "2.0", "devices": 2}, {"version": "1.9", "devices": 1}]
    assert Device.objects.count() == 4


def test_heartbeat_passes_when_the_rate_limit_cache_is_down(device, device_api, ratelimit_cache_down):
    response = device_api.post(HEARTBEAT, {}, format="json")

    assert response.status_code == 200
    assert Heartbeat.objects.filter(device=device).count() == 1


def test_heartbeat_offers_a_deployment_started_after_an_earlier_heartbeat(device, device_api):
    from devices import services

    from .factories import BundleFactory

    assert device_api.post(HEARTBEAT, {}, format="json").json()["deployment"] is None  # caches "none running"
    deployment = services.create_deployment(bundle=BundleFactory(), selector="list", device_ids=[device.pk])
    services.start_deployment(deployment=deployment)

    offer = device_api.post(HEARTBEAT, {}, format="json").json()["deployment"]

    assert offer["deployment_id"] == deployment.pk
