"""Deployments of a bundle to devices in batches, and the devices' reports on their targets."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from accounts.audit import record_audit_event
from config.choices import check_transition
from config.exceptions import Conflict, InvalidInput, NotAllowed, NotFound

from ..choices import TARGET_FINISHED, TARGET_IN_PROGRESS, DeploymentState, DeviceState, TargetSelector, TargetState
from ..models import Bundle, Deployment, DeploymentTarget, Device, DeviceGroup

if TYPE_CHECKING:
    from django.http import HttpRequest

    from accounts.models import User


logger = logging.getLogger("campus.devices")


# A heartbeat must stay cheap: whether any deployment runs is cached briefly.
RUNNING_DEPLOYMENTS_KEY = "devices:any-running-deployment"
RUNNING_DEPLOYMENTS_TTL = 30


def any_running_deployment() -> bool:
    """Whether any deployment runs; cached, and cleared by every deployment transition."""
    running: bool | None = cache.get(RUNNING_DEPLOYMENTS_KEY)
    if running is None:
        running = Deployment.objects.filter(state=DeploymentState.RUNNING).exists()
        cache.set(RUNNING_DEPLOYMENTS_KEY, running, RUNNING_DEPLOYMENTS_TTL)
    return running


def open_target_for(device: Device) -> DeploymentTarget | None:
    """The oldest released, unfinished deployment target of `device` in a running deployment."""
    return (
        DeploymentTarget.objects.filter(
            device=device,
            state__in=TARGET_IN_PROGRESS,
            deployment__state=DeploymentState.RUNNING,
            batch__lte=F("deployment__current_batch"),
        )
        .select_related("deployment__bundle")
        .order_by("deployment__created_at", "id")
        .first()
    )


# The one table of deployment moves; `transition_deployment` refuses the rest.
DEPLOYMENT_TRANSITIONS: dict[str, set[str]] = {
    DeploymentState.DRAFT: {DeploymentState.RUNNING, DeploymentState.CANCELLED},
    DeploymentState.RUNNING: {
        DeploymentState.PAUSED,
        DeploymentState.COMPLETED,
        DeploymentState.FAILED,
        DeploymentState.CANCELLED,
    },
    DeploymentState.PAUSED: {DeploymentState.RUNNING, DeploymentState.CANCELLED},
    DeploymentState.FAILED: {DeploymentState.RUNNING},  # by retrying failed targets
    DeploymentState.COMPLETED: set(),
    DeploymentState.CANCELLED: set(),
}


def transition_deployment(*, deployment: Deployment, to: str, reason: str = "") -> Deployment:
    """Moves a (locked) deployment to `to`, or raises Conflict for a move the table refuses."""
    current = deployment.state
    check_transition(DEPLOYMENT_TRANSITIONS, current, to, what="deployment")
    now = timezone.now()
    deployment.state = to
    deployment.state_reason = reason[:300]
    fields = ["state", "state_reason", "updated_at"]
    if to == DeploymentState.RUNNING and deployment.started_at is None:
        deployment.started_at = now
        fields.append("started_at")
    if to in (DeploymentState.COMPLETED, DeploymentState.FAILED, DeploymentState.CANCELLED):
        deployment.finished_at = now
        fields.append("finished_at")
    elif deployment.finished_at is not None:
        deployment.finished_at = None
        fields.append("finished_at")
    deployment.save(update_fields=fields)
    # Now, so this request's own heartbeats see it, and after commit, so no heartbeat
    # that read the old state in between leaves it cached.
    cache.delete(RUNNING_DEPLOYMENTS_KEY)
    transaction.on_commit(lambda: cache.delete(RUNNING_DEPLOYMENTS_KEY))
    logger.info(
        "deployment state",
        extra={
            "event": "deployment_state",
            "deployment_id": deployment.pk,
            "from": current,
            "to": to,
            "reason": reason,
        },
    )
    return deployment


def _locked(deployment: Deployment) -> Deployment:
    return Deployment.objects.select_for_update().select_related("bundle").get(pk=deployment.pk)


def devices_for_selector(
    *, selector: str, device_ids: list[int] | None = None, group: DeviceGroup | None = None, label: str = ""
) -> QuerySet[Device]:
    devices = Device.objects.exclude(state=DeviceState.DISABLED)
    if selector == TargetSelector.LIST:
        return devices.filter(pk__in=device_ids or [])
    if selector == TargetSelector.GROUP:
        return devices.filter(group=group)
    if selector == TargetSelector.LABEL:
        return devices.filter(labels__contains=[label])
    raise InvalidInput(f"Unknown selector {selector!r}.", details={"selector": ["Unknown selector."]})


@transaction.atomic
def create_deployment(
    *,
    bundle: Bundle,
    selector: str,
    device_ids: list[int] | None = None,
    group: DeviceGroup | None = None,
    label: str = "",
    name: str = "",
    batch_size: int = 10,
    failure_threshold_percent: int = 20,
    max_attempts: int = 3,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> Deployment:
    """A draft deployment with its targets fixed now, in batches of `batch_size` by serial."""
    if selector == TargetSelector.GROUP and group is None:
        raise InvalidInput("A group deployment needs a group.", details={"group": ["This field is required."]})
    if selector == TargetSelector.LABEL and not label:
        raise InvalidInput("A label deployment needs a label.", details={"label": ["This field is required."]})
    if selector == TargetSelector.LIST:
        found = set(Device.objects.filter(pk__in=device_ids or []).values_list("pk", flat=True))
        missing = sorted(set(device_ids or []) - found)
        if missing:
            raise InvalidInput("Some devices do not exist.", details={"device_ids": missing})
    devices = list(
        devices_for_selector(selector=selector, device_ids=device_ids, group=group, label=label)
        .order_by("serial")
        .values_list("pk", flat=True)
    )
    if not devices:
        raise InvalidInput("The deployment selects no (enabled) devices.", code="no_targets")
    deployment = Deployment(
        bundle=bundle, selector=selector, group=group, label=label, name=name, batch_size=batch_size,
        failure_threshold_percent=failure_threshold_percent, max_attempts=max_attempts,
        created_by=actor if actor is not None and actor.pk else None,
    )
    deployment.full_clean()
    deployment.save()
    DeploymentTarget.objects.bulk_create(
        DeploymentTarget(deployment=deployment, device_id=device_id, batch=index // batch_size)
        for index, device_id in enumerate(devices)
    )
    record_audit_event(
        action="devices.deployment_created", actor=actor, target=f"deployment:{deployment.pk}", request=request,
        details={"bundle": str(bundle), "targets": len(devices), "selector": selector},
    )
    return deployment


def _audited_move(
    deployment: Deployment,
    to: str,
    *,
    action: str,
    actor: User | None,
    request: HttpRequest | None,
    reason: str = "",
    only_from: str | None = None,
) -> Deployment:
    with transaction.atomic():
        locked = _locked(deployment)
        if only_from is not None and locked.state != only_from:
            # start is for drafts and resume for paused ones, though both lead to running
            raise Conflict(
                f"Only a {only_from} deployment can do that; this one is {locked.state}.",
                code="invalid_transition",
                details={"from": locked.state, "to": to},
            )
        transition_deployment(deployment=locked, to=to, reason=reason)
        if to == DeploymentState.RUNNING:
            advance_rollout(locked)
        record_audit_event(action=action, actor=actor, target=f"deployment:{locked.pk}", request=request)
    return locked


def _release(
    deployment: Deployment, only_from: str, action: str, actor: User | None, request: HttpRequest | None
) -> Deployment:
    """Start (from draft) and resume (from paused): to running, which releases the next batch."""
    return _audited_move(
        deployment, DeploymentState.RUNNING, action=action, actor=actor, request=request, only_from=only_from
    )


def start_deployment(
    *, deployment: Deployment, actor: User | None = None, request: HttpRequest | None = None
) -> Deployment:
    """Draft -> running: releases the first batch."""
    return _release(deployment, DeploymentState.DRAFT, "devices.deployment_started", actor, request)


def pause_deployment(
    *,
    deployment: Deployment,
    actor: User | None = None,
    request: HttpRequest | None = None,
    reason: str = "paused by staff",
) -> Deployment:
    return _audited_move(
        deployment, DeploymentState.PAUSED, action="devices.deployment_paused", actor=actor, request=request,
        reason=reason,
    )


def resume_deployment(
    *, deployment: Deployment, actor: User | None = None, request: HttpRequest | None = None
) -> Deployment:
    """Paused -> running; pauses again at once if failures are still over the threshold."""
    return _release(deployment, DeploymentState.PAUSED, "devices.deployment_resumed", actor, request)


def cancel_deployment(
    *, deployment: Deployment, actor: User | None = None, request: HttpRequest | None = None
) -> Deployment:
    return _audited_move(
        deployment, DeploymentState.CANCELLED, action="devices.deployment_cancelled", actor=actor, request=request,
        reason="cancelled by staff",
    )


@transaction.atomic
def retry_failed_targets(
    *, deployment: Deployment, actor: User | None = None, request: HttpRequest | None = None
) -> int:
    """Puts failed targets back to pending (attempts reset) and runs the deployment again."""
    locked = _locked(deployment)
    if locked.state in (DeploymentState.CANCELLED, DeploymentState.COMPLETED, DeploymentState.DRAFT):
        raise Conflict(f"A {locked.state} deployment cannot be retried.", code="invalid_transition")
    count = locked.targets.filter(state=TargetState.FAILED).update(
        state=TargetState.PENDING, attempts=0, finished_at=None, updated_at=timezone.now()
    )
    if count == 0:
        raise Conflict("No failed targets to retry.", code="nothing_to_retry")
    if locked.state != DeploymentState.RUNNING:
        transition_deployment(deployment=locked, to=DeploymentState.RUNNING, reason=f"retrying {count} targets")
    advance_rollout(locked)
    record_audit_event(
        action="devices.deployment_retried", actor=actor, target=f"deployment:{locked.pk}", request=request,
        details={"targets": count},
    )
    return count


def advance_rollout(deployment: Deployment) -> Deployment:
    """For a locked, running deployment: pause on too many failures, else release the next
    batch when the current one is finished, else finish."""
    if deployment.state != DeploymentState.RUNNING:
        return deployment
    while True:
        released = deployment.targets.filter(batch__lte=deployment.current_batch).aggregate(
            total=Count("id"),
            failed=Count("id", filter=Q(state=TargetState.FAILED)),
            open=Count("id", filter=Q(state__in=TARGET_IN_PROGRESS)),
        )
        if released["total"] and released["failed"] * 100 > deployment.failure_threshold_percent * released["total"]:
            return transition_deployment(
                deployment=deployment,
                to=DeploymentState.PAUSED,
                reason=f"{released['failed']} of {released['total']} released targets failed "
                f"(threshold {deployment.failure_threshold_percent}%)",
            )
        if released["open"]:
            return deployment
        if deployment.targets.filter(batch__gt=deployment.current_batch).exists():
            deployment.current_batch += 1
            deployment.save(update_fields=["current_batch", "updated_at"])
            continue  # an empty-looking batch is re-checked the same way
        if released["failed"]:
            return transition_deployment(
                deployment=deployment, to=DeploymentState.FAILED, reason=f"{released['failed']} targets failed"
            )
        return transition_deployment(deployment=deployment, to=DeploymentState.COMPLETED)


# Moves a device may report for its target; a repeat of the current state is a no-op.
TARGET_TRANSITIONS: dict[str, set[str]] = {
    TargetState.PENDING: {TargetState.DOWNLOADING, TargetState.FAILED},
    TargetState.DOWNLOADING: {TargetState.INSTALLING, TargetState.FAILED},
    TargetState.INSTALLING: {TargetState.SUCCEEDED, TargetState.FAILED},
    TargetState.SUCCEEDED: set(),
    TargetState.FAILED: set(),
}


def target_for_device(*, device: Device, target_id: int) -> DeploymentTarget:
    """A device's own target; another device's is refused."""
    target = DeploymentTarget.objects.select_related("deployment__bundle").filter(pk=target_id).first()
    if target is None:
        raise NotFound("No such deployment target.")
    if target.device_id != device.pk:
        raise NotAllowed("This deployment target belongs to another device.")
    return target


def report_target_status(*, device: Device, target_id: int, state: str, error: str = "") -> DeploymentTarget:
    """A device reports progress on its own target; a failure is retried up to max_attempts."""
    with transaction.atomic():
        target_for_device(device=device, target_id=target_id)
        target = DeploymentTarget.objects.select_for_update().get(pk=target_id)
        deployment = _locked(target.deployment)
        target.deployment = deployment
        if deployment.state != DeploymentState.RUNNING or target.batch > deployment.current_batch:
            raise Conflict(
                f"The deployment is {deployment.state}; stop working on it.",
                code="deployment_not_running",
                details={"deployment_state": deployment.state},
            )
        if state == target.state:
            return target
        check_transition(TARGET_TRANSITIONS, target.state, state, what="target")
        now = timezone.now()
        fields = ["state", "updated_at"]
        if state == TargetState.DOWNLOADING or (state == TargetState.FAILED and target.state == TargetState.PENDING):
            target.attempts += 1
            fields.append("attempts")
        if state == TargetState.FAILED:
            target.last_error = error[:2000] or "failed without a message"
            fields.append("last_error")
            if target.attempts < deployment.max_attempts:
                state = TargetState.PENDING  # offered again at the next heartbeat
        target.state = state
        if state in TARGET_FINISHED:
            target.finished_at = now
            fields.append("finished_at")
        target.save(update_fields=fields)
        if state == TargetState.SUCCEEDED:
            Device.objects.filter(pk=device.pk).update(bundle_version=deployment.bundle.version)
        advance_rollout(deployment)
    return target
