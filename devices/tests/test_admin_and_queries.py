"""Admin pages and actions; query counts of the list endpoints."""

from __future__ import annotations

import pytest
from django.utils import timezone

from devices import services
from devices.choices import DeviceState
from devices.models import DeviceCredential

from .factories import BundleFactory, DeviceFactory, DeviceGroupFactory, give_credential, make_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_device_changelist_shows_online_badge_and_filters(admin_client):
    DeviceFactory(serial="ONLINE-1", last_heartbeat_at=timezone.now(), agent_version="2.0")
    DeviceFactory(serial="OFFLINE-1", agent_version="1.0")

    page = admin_client.get("/admin/devices/device/?online=yes")
    assert page.status_code == 200
    assert b"ONLINE-1" in page.content and b"OFFLINE-1" not in page.content
    assert b">online<" in page.content
    by_version = admin_client.get("/admin/devices/device/?agent_version=1.0&state=active")
    assert b"OFFLINE-1" in by_version.content and b"ONLINE-1" not in by_version.content


def test_admin_actions_disable_and_rotate(admin_client):
    device = DeviceFactory()
    old = give_credential(device)
    changelist = "/admin/devices/device/"

    admin_client.post(changelist, {"action": "rotate_credentials", "_selected_action": [device.pk]})
    assert DeviceCredential.objects.filter(device=device, revoked_at__isnull=True).count() == 1
    assert not DeviceCredential.objects.filter(prefix=old.split(".")[0], revoked_at__isnull=True).exists()

    admin_client.post(changelist, {"action": "disable_devices", "_selected_action": [device.pk]})
    device.refresh_from_db()
    assert device.state == DeviceState.DISABLED


def test_deployment_changelist_counts_targets_in_one_query(admin_client, django_assert_max_num_queries):
    devices = [DeviceFactory() for _ in range(6)]
    for _ in range(3):
        deployment = services.create_deployment(
            bundle=BundleFactory(), selector="list", device_ids=[d.pk for d in devices], batch_size=2
        )
        services.start_deployment(deployment=deployment)

    with django_assert_max_num_queries(12):  # session, user, count(s), the annotated page: not per row
        page = admin_client.get("/admin/devices/deployment/")
    assert page.status_code == 200
    # The rollout column sums the annotated per-state counts for each row.
    assert page.content.decode().count("0 of 6 updated") == 3


def _list_queries(staff_api, django_assert_num_queries, url: str, expected: int) -> dict:
    # 1 user by JWT (admins are superusers: no permission query), 1 COUNT, 1 page with its joins
    with django_assert_num_queries(expected):
        response = staff_api.get(url)
    assert response.status_code == 200, response.json()
    return response.json()


def test_device_list_query_count_does_not_grow(staff_api, django_assert_num_queries):
    room_group = DeviceGroupFactory()
    for _ in range(3):
        DeviceFactory(group=room_group)
    small = _list_queries(staff_api, django_assert_num_queries, "/api/v1/devices", 3)
    for _ in range(20):
        DeviceFactory(group=room_group)
    large = _list_queries(staff_api, django_assert_num_queries, "/api/v1/devices", 3)
    assert small["count"] == 3 and large["count"] == 23
    assert large["results"][0]["group_name"] == room_group.name


def test_deployment_list_query_count_does_not_grow(staff_api, django_assert_num_queries):
    devices = [DeviceFactory() for _ in range(4)]
    services.create_deployment(bundle=BundleFactory(), selector="list", device_ids=[d.pk for d in devices])
    small = _list_queries(staff_api, django_assert_num_queries, "/api/v1/devices/deployments", 3)
    for _ in range(5):
        services.create_deployment(bundle=BundleFactory(), selector="list", device_ids=[d.pk for d in devices])
    large = _list_queries(staff_api, django_assert_num_queries, "/api/v1/devices/deployments", 3)
    assert small["count"] == 1 and large["count"] == 6
    assert large["results"][0]["progress"] == {
        "total": 4,
        "pending": 4,
        "downloading": 0,
        "installing": 0,
        "succeeded": 0,
        "failed": 0,
    }


def test_token_bundle_and_heartbeat_lists_query_counts(staff_api, django_assert_num_queries):
    device = DeviceFactory()
    for _ in range(5):
        make_token()
        BundleFactory()
    client_credential = give_credential(device)
    assert client_credential
    from devices.models import Heartbeat

    Heartbeat.objects.bulk_create(Heartbeat(device=device, received_at=timezone.now()) for _ in range(30))

    assert _list_queries(staff_api, django_assert_num_queries, "/api/v1/devices/registration-tokens", 3)["count"] == 5
    assert _list_queries(staff_api, django_assert_num_queries, "/api/v1/devices/bundles", 3)["count"] == 5
    history = _list_queries(
        staff_api, django_assert_num_queries, f"/api/v1/devices/{device.pk}/heartbeats", 4
    )  # + the device
    assert history["count"] == 30


def test_staff_roles_without_manage_devices_are_403(client_for, make_user):
    staff = client_for(make_user(role="staff"))
    for url in ("/api/v1/devices", "/api/v1/devices/summary", "/api/v1/devices/bundles"):
        response = staff.get(url)
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "permission_denied"


def test_staff_device_crud(staff_api):
    group = DeviceGroupFactory()
    created = staff_api.post(
        "/api/v1/devices",
        {"serial": "PRE-1", "name": "Gate", "group": group.pk, "labels": ["lab", "lab"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["state"] == "pending" and body["labels"] == ["lab"] and body["is_online"] is False

    duplicate = staff_api.post("/api/v1/devices", {"serial": "PRE-1"}, format="json")
    assert duplicate.status_code == 400 and "serial" in duplicate.json()["error"]["details"]

    patched = staff_api.patch(f"/api/v1/devices/{body['id']}", {"name": "Main gate", "state": "active"}, format="json")
    assert patched.json()["name"] == "Main gate" and patched.json()["state"] == "pending"  # state is read-only
    assert staff_api.get("/api/v1/devices?label=lab").json()["count"] == 1
    assert staff_api.delete(f"/api/v1/devices/{body['id']}").status_code == 204
    from accounts.models import AuditEvent

    assert AuditEvent.objects.filter(action="devices.deleted", target=f"device:{body['id']}").exists()
    assert staff_api.get("/api/v1/devices").json()["count"] == 0
