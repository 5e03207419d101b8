"""Bundles (checksum, limits) and the deployment state machine."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from devices import services
from devices.choices import DeploymentState, TargetState
from devices.models import Bundle, Deployment, DeploymentTarget

from .conftest import device_client
from .factories import BundleFactory, DeviceFactory, DeviceGroupFactory, give_credential

pytestmark = pytest.mark.django_db

BUNDLES = "/api/v1/devices/bundles"
DEPLOYMENTS = "/api/v1/devices/deployments"
HEARTBEAT = "/api/v1/devices/heartbeat"


def upload(staff_api, content: bytes = b"x" * 100_000, **fields):
    data = {"file": SimpleUploadedFile("agent.tar.gz", content), "name": "agent", "version": "2.0.0", **fields}
    return staff_api.post(BUNDLES, data, format="multipart")


def test_bundle_upload_computes_sha256_and_size(staff_api):
    content = bytes(range(256)) * 20_000  # ~5 MB: spills to a temporary file and streams in chunks

    response = upload(staff_api, content, channel="beta", min_agent_version="1.5")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size_bytes"] == len(content)
    bundle = Bundle.objects.get()
    assert bundle.channel == "beta"
    with bundle.file.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == bundle.sha256


def test_bundle_over_the_size_limit_is_413_and_stores_nothing(staff_api, settings):
    settings.DEVICE_MAX_BUNDLE_BYTES = 1000

    response = upload(staff_api, b"x" * 1001)

    assert response.status_code == 413
    assert response.json()["error"]["details"] == {"limit_bytes": 1000}
    assert not Bundle.objects.exists()


def test_bundle_with_bad_fields_is_400(staff_api):
    response = upload(staff_api, version="not a version!")

    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"version"}
    assert not Bundle.objects.exists()


def test_duplicate_bundle_version_is_409(staff_api):
    assert upload(staff_api).status_code == 201
    response = upload(staff_api)
    assert response.status_code == 409
    assert Bundle.objects.count() == 1


def make_fleet(count: int, **device_fields):
    devices = [DeviceFactory(serial=f"FLEET-{i:03d}", **device_fields) for i in range(count)]
    return devices, {d.pk: device_client(give_credential(d)) for d in devices}


def offered(client) -> dict | None:
    return client.post(HEARTBEAT, {}, format="json").json()["deployment"]


def report(client, target_id: int, state: str, error: str = ""):
    return client.post(f"/api/v1/devices/targets/{target_id}/status", {"state": state, "error": error}, format="json")


def finish(client, target_id: int, *, ok: bool = True):
    assert report(client, target_id, "downloading").status_code == 200
    if ok:
        assert report(client, target_id, "installing").status_code == 200
        return report(client, target_id, "succeeded")
    return report(client, target_id, "failed", "disk full")


def start_rollout(devices, *, bundle: Bundle | None = None, **options) -> Deployment:
    """A started deployment of `bundle` (a new one by default) to exactly `devices`."""
    deployment = services.create_deployment(
        bundle=bundle or BundleFactory(), selector="list", device_ids=[d.pk for d in devices], **options
    )
    services.start_deployment(deployment=deployment)
    return deployment


def test_deployment_rolls_out_in_batches_to_completion(staff_api, settings):
    devices, clients = make_fleet(4)
    bundle = BundleFactory()
    created = staff_api.post(
        DEPLOYMENTS,
        {"bundle": bundle.pk, "selector": "list", "batch_size": 2, "device_ids": [d.pk for d in devices]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    deployment_id = created.json()["id"]
    assert created.json()["state"] == "draft"
    assert created.json()["progress"]["pending"] == 4
    assert offered(clients[devices[0].pk]) is None  # drafts are offered to nobody

    assert staff_api.post(f"{DEPLOYMENTS}/{deployment_id}/start").json()["state"] == "running"
    first_batch = [offered(clients[d.pk]) for d in devices[:2]]
    assert all(first_batch) and first_batch[0]["bundle"]["sha256"] == bundle.sha256
    assert offered(clients[devices[2].pk]) is None  # second batch not released yet

    for device, offer in zip(devices[:2], first_batch, strict=True):
        assert finish(clients[device.pk], offer["target_id"]).json()["state"] == "succeeded"
    for device in devices[2:]:
        finish(clients[device.pk], offered(clients[device.pk])["target_id"])

    body = staff_api.get(f"{DEPLOYMENTS}/{deployment_id}").json()
    assert body["state"] == "completed"
    assert body["progress"]["succeeded"] == 4
    devices[0].refresh_from_db()
    assert devices[0].bundle_version == bundle.version


def test_batch_failures_over_threshold_pause_then_retry_resumes(staff_api):
    devices, clients = make_fleet(4)
    deployment = start_rollout(devices, batch_size=2, failure_threshold_percent=25, max_attempts=1)
    a, b = devices[:2]
    finish(clients[a.pk], offered(clients[a.pk])["target_id"])
    failed = finish(clients[b.pk], offered(clients[b.pk])["target_id"], ok=False)

    assert failed.json()["deployment_state"] == "paused"
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.PAUSED
    assert "1 of 2" in deployment.state_reason
    assert deployment.current_batch == 0
    target = DeploymentTarget.objects.get(deployment=deployment, device=b)
    assert target.state == TargetState.FAILED and target.attempts == 1 and target.last_error == "disk full"
    assert offered(clients[devices[2].pk]) is None  # paused: nothing new is released

    retried = staff_api.post(f"{DEPLOYMENTS}/{deployment.pk}/retry")
    assert retried.status_code == 200
    assert retried.json()["state"] == "running"
    offer = offered(clients[b.pk])
    assert offer["target_id"] == target.pk
    finish(clients[b.pk], offer["target_id"])
    deployment.refresh_from_db()
    assert deployment.current_batch == 1
    assert offered(clients[devices[2].pk]) is not None


def test_failure_under_max_attempts_is_offered_again(staff_api):
    devices, clients = make_fleet(1)
    deployment = start_rollout(devices[:1], max_attempts=2, failure_threshold_percent=0)
    client = clients[devices[0].pk]

    first = finish(client, offered(client)["target_id"], ok=False)
    assert first.json() | {} == {
        "target_id": first.json()["target_id"],
        "state": "pending",
        "attempts": 1,
        "deployment_state": "running",
    }
    second = finish(client, offered(client)["target_id"], ok=False)

    assert second.json()["state"] == "failed" and second.json()["attempts"] == 2
    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.PAUSED


def test_all_batches_done_with_tolerated_failures_ends_failed(staff_api):
    devices, clients = make_fleet(3)
    deployment = start_rollout(devices, batch_size=3, failure_threshold_percent=50, max_attempts=1)
    for index, device in enumerate(devices):
        finish(clients[device.pk], offered(clients[device.pk])["target_id"], ok=index != 0)

    deployment.refresh_from_db()
    assert deployment.state == DeploymentState.FAILED
    assert deployment.finished_at is not None


@pytest.mark.parametrize(
    ("moves", "refused"),
    [
        (["start", "pause"], "start"),  # paused resumes, it is not started again
        (["cancel"], "start"),
        (["cancel"], "resume"),
        ([], "pause"),
        ([], "resume"),
        (["start"], "resume"),
    ],
)
def test_invalid_deployment_moves_are_409(staff_api, moves, refused):
    devices, _ = make_fleet(1)
    deployment = services.create_deployment(bundle=BundleFactory(), selector="list", device_ids=[devices[0].pk])
    for move in moves:
        assert staff_api.post(f"{DEPLOYMENTS}/{deployment.pk}/{move}").status_code == 200, move
    state_before = Deployment.objects.get(pk=deployment.pk).state

    response = staff_api.post(f"{DEPLOYMENTS}/{deployment.pk}/{refused}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    assert Deployment.objects.get(pk=deployment.pk).state == state_before


def test_pause_resume_cancel(staff_api):
    devices, clients = make_fleet(1)
    deployment = services.create_deployment(bundle=BundleFactory(), selector="list", device_ids=[devices[0].pk])
    client = clients[devices[0].pk]
    staff_api.post(f"{DEPLOYMENTS}/{deployment.pk}/start")
    target_id = offered(client)["target_id"]

    assert staff_api.post(f"{DEPLOYMENTS}/{deployment.pk}/pause").json()["state"] == "paused"
    refused = report(client, target_id, "downloading")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "deployment_not_running"
    assert staff_api.post(f"{DEPLOYMENTS}/{deployment.pk}/resume").json()["state"] == "running"
    assert report(client, target_id, "downloading").status_code == 200
    cancelled = staff_api.post(f"{DEPLOYMENTS}/{deployment.pk}/cancel").json()
    assert cancelled["state"] == "cancelled"
    assert offered(client) is None


def test_deployment_by_group_and_by_label(staff_api):
    group = DeviceGroupFactory()
    in_group = DeviceFactory(group=group)
    labelled = DeviceFactory(labels=["lab", "north"])
    DeviceFactory(labels=["south"])
    DeviceFactory(group=group, state="disabled")
    bundle = BundleFactory()

    by_group = staff_api.post(DEPLOYMENTS, {"bundle": bundle.pk, "selector": "group", "group": group.pk}, format="json")
    by_label = staff_api.post(DEPLOYMENTS, {"bundle": bundle.pk, "selector": "label", "label": "lab"}, format="json")

    assert by_group.status_code == 201 and by_label.status_code == 201
    assert list(Deployment.objects.get(pk=by_group.json()["id"]).targets.values_list("device", flat=True)) == [
        in_group.pk
    ]
    assert list(Deployment.objects.get(pk=by_label.json()["id"]).targets.values_list("device", flat=True)) == [
        labelled.pk
    ]


def test_deployment_with_bad_input_is_400_and_creates_nothing(staff_api):
    bundle = BundleFactory()
    cases = [
        {"bundle": bundle.pk, "selector": "list"},
        {"bundle": bundle.pk, "selector": "list", "device_ids": [999_999]},
        {"bundle": bundle.pk, "selector": "everything"},
        {"bundle": bundle.pk, "selector": "label", "label": "nobody-has-this"},
        {"bundle": 999_999, "selector": "list", "device_ids": [1]},
    ]
    for data in cases:
        response = staff_api.post(DEPLOYMENTS, data, format="json")
        assert response.status_code == 400, data
        assert response.json()["error"]["code"] in {"invalid", "no_targets"}
    assert not Deployment.objects.exists()


def test_device_cannot_report_or_download_another_devices_target(staff_api):
    devices, clients = make_fleet(2)
    deployment = start_rollout(devices[:1], batch_size=1)
    target = deployment.targets.get()
    intruder = clients[devices[1].pk]

    assert (
        intruder.post(
            f"/api/v1/devices/targets/{target.pk}/status", {"state": "downloading"}, format="json"
        ).status_code
        == 403
    )
    assert intruder.get(f"/api/v1/devices/targets/{target.pk}/bundle").status_code == 403
    target.refresh_from_db()
    assert target.state == TargetState.PENDING and target.attempts == 0


def test_bundle_download_streams_file_with_sha256(staff_api):
    content = b"agent-release-" * 1000
    bundle_id = upload(staff_api, content).json()["id"]
    devices, clients = make_fleet(1)
    start_rollout(devices[:1], bundle=Bundle.objects.get(pk=bundle_id))
    client = clients[devices[0].pk]
    offer = offered(client)

    response = client.get(offer["bundle"]["download_url"])

    assert response.status_code == 200
    assert response.streaming
    data = b"".join(response.streaming_content)
    assert data == content
    assert response["X-Checksum-SHA256"] == hashlib.sha256(content).hexdigest() == offer["bundle"]["sha256"]
    assert int(response["Content-Length"]) == len(content)
