"""Every write with a business rule in the devices app, one module per concern.

API views, admin actions, Celery tasks and management commands call these;
none of them writes device rows by itself. Import from `devices.services`.
"""

from __future__ import annotations

from .bundles import create_bundle, delete_bundle
from .config import CONFIG_VERSION_TTL, config_version, device_config
from .credentials import (
    REGISTRATION_LIMIT,
    Registration,
    check_registration_rate,
    create_device,
    delete_device,
    disable_device,
    enable_device,
    provision_devices,
    register_device,
    revoke_credentials,
    rotate_credential,
    update_device,
)
from .deployments import (
    DEPLOYMENT_TRANSITIONS,
    RUNNING_DEPLOYMENTS_KEY,
    RUNNING_DEPLOYMENTS_TTL,
    TARGET_TRANSITIONS,
    advance_rollout,
    any_running_deployment,
    cancel_deployment,
    create_deployment,
    devices_for_selector,
    open_target_for,
    pause_deployment,
    report_target_status,
    resume_deployment,
    retry_failed_targets,
    start_deployment,
    target_for_device,
    transition_deployment,
)
from .heartbeats import (
    HEARTBEAT_LIMIT,
    HeartbeatResult,
    check_heartbeat_rate,
    mark_offline_devices,
    prune_heartbeats,
    record_heartbeat,
)
from .tokens import (
    claim_use,
    create_registration_token,
    expire_registration_tokens,
    revoke_registration_token,
    usable_token,
)

__all__ = [
    "CONFIG_VERSION_TTL",
    "DEPLOYMENT_TRANSITIONS",
    "HEARTBEAT_LIMIT",
    "REGISTRATION_LIMIT",
    "RUNNING_DEPLOYMENTS_KEY",
    "RUNNING_DEPLOYMENTS_TTL",
    "TARGET_TRANSITIONS",
    "HeartbeatResult",
    "Registration",
    "advance_rollout",
    "any_running_deployment",
    "cancel_deployment",
    "check_heartbeat_rate",
    "check_registration_rate",
    "claim_use",
    "config_version",
    "create_bundle",
    "create_deployment",
    "create_device",
    "create_registration_token",
    "delete_bundle",
    "delete_device",
    "device_config",
    "devices_for_selector",
    "disable_device",
    "enable_device",
    "expire_registration_tokens",
    "mark_offline_devices",
    "open_target_for",
    "pause_deployment",
    "provision_devices",
    "prune_heartbeats",
    "record_heartbeat",
    "register_device",
    "report_target_status",
    "resume_deployment",
    "retry_failed_targets",
    "revoke_credentials",
    "revoke_registration_token",
    "rotate_credential",
    "start_deployment",
    "target_for_device",
    "transition_deployment",
    "update_device",
    "usable_token",
]
