"""cameras wires the camera and device counts into attendance's dashboard summary."""

import pytest
from django.utils import timezone

from cameras.choices import CameraStatus
from cameras.tests.factories import CameraFactory
from devices.models import Device
from devices.services import provision_devices

pytestmark = pytest.mark.django_db


def test_dashboard_summary_counts_cameras_and_devices_online(client_for, staff_user, room):
    CameraFactory(room=room, status=CameraStatus.ONLINE)
    CameraFactory(room=room, status=CameraStatus.OFFLINE)
    provision_devices(serials=["dash-1", "dash-2"])
    Device.objects.filter(serial="dash-1").update(last_heartbeat_at=timezone.now())
    body = client_for(staff_user).get("/api/v1/dashboard/summary").json()
    assert body["status_sources"]["cameras"]["online"] == 1
    assert body["status_sources"]["cameras"]["total"] == 2
    assert body["status_sources"]["devices"] == {"online": 1, "total": 2}
