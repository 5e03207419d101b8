"""simulate_devices against a live server, and its argument checks."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from devices import services
from devices.models import Device, Heartbeat

from .factories import make_token


@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.5:8000", "ftp://127.0.0.1"])
def test_only_loopback_urls_are_accepted(url):
    with pytest.raises(CommandError, match=r"loopback|http"):
        call_command("simulate_devices", "1", "--url", url, "--token", "x.y", "--duration", "1")


@pytest.mark.parametrize(("count", "duration"), [("0", "5"), ("5001", "5"), ("1", "0"), ("1", "3601")])
def test_counts_and_durations_are_bounded(count, duration):
    with pytest.raises(CommandError):
        call_command("simulate_devices", count, "--token", "x.y", "--duration", duration)


@pytest.mark.django_db(transaction=True)
def test_simulated_devices_register_heartbeat_and_take_a_deployment(live_server, tmp_path, settings):
    from .factories import BundleFactory

    settings.MEDIA_ROOT = tmp_path
    settings.DEVICE_HEARTBEAT_MAX_PER_MINUTE = 1000
    _, plaintext = make_token(max_uses=3)
    report = tmp_path / "report.json"

    def simulate_two(*how: str) -> None:
        """Two devices for four seconds against the live server, a heartbeat every half second."""
        call_command(
            "simulate_devices", "2", "--url", live_server.url, *how,
            "--duration", "4", "--interval", "0.5", "--ramp-up", "0", "--report", str(report),
        )

    simulate_two("--token", plaintext, "--serial-prefix", "live-")

    summary = json.loads(report.read_text())
    assert summary["registered"] == 2 and summary["errors"] == {}
    assert summary["heartbeats"] >= 4
    devices = list(Device.objects.filter(serial__startswith="live-"))
    assert len(devices) == 2 and all(d.last_heartbeat_at for d in devices)
    assert Heartbeat.objects.filter(device__in=devices).count() == summary["heartbeats"]

    deployment = services.create_deployment(bundle=BundleFactory(), selector="list", device_ids=[d.pk for d in devices])
    services.start_deployment(deployment=deployment)
    credentials = tmp_path / "credentials.json"
    # Same devices again, now provisioned: rotate their credentials into a file.
    credentials.write_text(json.dumps({d.serial: services.rotate_credential(device=d) for d in devices}))

    simulate_two("--credentials", str(credentials))

    second = json.loads(report.read_text())
    assert second["deployments_succeeded"] == 2 and second["errors"] == {}
    deployment.refresh_from_db()
    assert deployment.state == "completed"


@pytest.mark.django_db
def test_provision_devices_refuses_existing_serials():
    credentials = services.provision_devices(serials=["P-1", "P-2"])
    assert set(credentials) == {"P-1", "P-2"}
    assert Device.objects.get(serial="P-1").credentials.filter(revoked_at__isnull=True).count() == 1

    from config.exceptions import Conflict

    with pytest.raises(Conflict):
        services.provision_devices(serials=["P-2", "P-3"])
    assert not Device.objects.filter(serial="P-3").exists()
