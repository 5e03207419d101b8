"""Contract fuzzing: Schemathesis against our own OpenAPI schema, as every role.

For each operation in `/api/schema/` Schemathesis generates a bounded number of
requests (valid and invalid data, deterministic so CI is repeatable) and sends
them in-process through the WSGI app with a real JWT of an admin, a staff
member, a student and a guest, once anonymously, and as an edge device (its
credential, on the device API and the frame push only). Every response must be
free of 5xx, have the documented content type, and match the documented
response schema when its status code is documented. A small seeded campus and
the real ids of existing objects in path parameters let requests get past 404.

The test collects every failure (operation, input, response) instead of
stopping at the first, writes them to `test-artifacts/contract-<role>.json`,
and fails listing them all.

Bounds: `CONTRACT_MAX_EXAMPLES` (default 5) per operation, per generation mode
and per role; no shrinking; a time budget per role after which the remaining
operations are reported as not reached (a failure, so the budget is never
silently too small).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "5"))
BUDGET_SECONDS = float(os.environ.get("CONTRACT_BUDGET_SECONDS", "420"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ROLES = ["admin", "staff", "student", "guest", "anonymous", "device"]
# To reproduce one finding: CONTRACT_ONLY="/api/v1/users" runs only operations whose "METHOD path" contains it.
ONLY = os.environ.get("CONTRACT_ONLY", "")
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]

# Operations not fuzzed, with the reason. Keep this short and honest.
NOT_FUZZED: dict[str, str] = {}

# Operations known to fail, with the owner and the reason; reported, not hidden.
KNOWN_FAILURES: dict[str, str] = {}

CONFIG = SchemathesisConfig.from_dict(
    {"generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "no-shrink": True}}
)
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
    report_multiple_bugs=False,
)


@pytest.fixture(scope="session")
def wsgi_app():
    return get_wsgi_application()


@pytest.fixture
def in_process_requests():
    """Keeps the test's connection open across requests, as Django's own test client does.

    The WSGI handler closes "old" connections when a request ends; inside the
    test's transaction that would break every later query.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    signals.got_request_exception.connect(_remember_server_error)
    # 503s from database errors are answered by the API's exception handler, which
    # logs them on campus.errors instead of sending got_request_exception.
    handler = _ErrorLogHandler(level=logging.WARNING)
    error_logger = logging.getLogger("campus.errors")
    error_logger.addHandler(handler)
    try:
        yield
    finally:
        error_logger.removeHandler(handler)
        signals.got_request_exception.disconnect(_remember_server_error)
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


_server_errors: list[str] = []


class _ErrorLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info, limit=-6))
            _server_errors.append(f"{record.getMessage()}\n{text}")


def _remember_server_error(sender, request=None, **kwargs) -> None:
    """The traceback behind a 500, so the report names the line that failed."""
    _server_errors.append(traceback.format_exc(limit=-6))


def seed_small_campus() -> None:
    """A few objects of every kind, so detail, update and delete operations meet real rows."""
    from django.core.management import call_command

    try:
        call_command("seed_demo", students=20, verbosity=0)
    except Exception as exc:  # seed_demo belongs to campus; its absence must not hide the contract
        print(f"contract: seed_demo unavailable: {type(exc).__name__}: {exc}")


def existing_ids(operation) -> list[Any]:
    """Primary keys of objects the operation's view can reach, for its `{id}` path parameter."""
    sample_path = operation.path.replace("{id}", "1")
    for name in ("{pk}", "{student_id}", "{camera_id}"):
        sample_path = sample_path.replace(name, "1")
    try:
        match = resolve(sample_path)
    except Resolver404:
        return []
    view_class = getattr(match.func, "cls", None)
    queryset = getattr(view_class, "queryset", None)
    if queryset is None:
        return []
    try:
        return list(queryset.model._default_manager.order_by("-pk").values_list("pk", flat=True)[:3])
    except Exception:
        return []


def describe(case, response, exc: BaseException) -> dict[str, Any]:
    failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
    body = None
    if response is not None:
        try:
            body = response.json()
        except Exception:
            body = (response.text or "")[:500]
    return {
        "operation": f"{case.operation.method.upper()} {case.operation.path}",
        "server_traceback": _server_errors[-1] if _server_errors else None,
        "checks": sorted({getattr(f, "title", type(f).__name__) for f in failures}),
        "messages": [str(getattr(f, "message", f))[:500] for f in failures],
        "request": {
            "path_parameters": case.path_parameters,
            "query": case.query,
            "body": case.body if isinstance(case.body, (dict, list, str, int, float, type(None))) else "<binary>",
        },
        "status": getattr(response, "status_code", None),
        "response": body if not isinstance(body, str) else body[:500],
    }


def fuzz(operation, headers: dict[str, str], mode: GenerationMode, statuses: Counter, **fixed) -> list[dict[str, Any]]:
    failures: list[dict[str, Any]] = []

    @HYPOTHESIS
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def run(case):
        response = None
        _server_errors.clear()
        # Each request in its own savepoint, rolled back after: in production every
        # request has its own transaction, so one request's SQL error must not abort
        # the test's transaction for all the requests after it.
        savepoint = transaction.savepoint()
        try:
            try:
                response = case.call(headers=headers)
            finally:
                transaction.savepoint_rollback(savepoint)
            statuses[str(response.status_code)] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Failure, FailureGroup) as exc:
            failures.append(describe(case, response, exc))
        except Exception as exc:  # the app raised through the WSGI handler: a 500 in production
            failures.append(describe(case, response, exc) | {"exception": f"{type(exc).__name__}: {exc}"[:500]})

    # Unsatisfiable: nothing to negate (no parameters, no body); the positive run covers it.
    with contextlib.suppress(Unsatisfiable):
        run()
    return failures


_device_camera: dict[str, int] = {}


def device_credential() -> str:
    """A registered edge device bound to a push camera: the device API's caller."""
    from cameras.tests.factories import CameraFactory
    from campus.tests.factories import RoomFactory
    from devices.services import create_registration_token, register_device

    room = RoomFactory(code="CONTRACT-ROOM")
    _, token = create_registration_token(label="contract", room=room)
    registration = register_device(token=token, serial="contract-device")
    _device_camera["id"] = CameraFactory(room=room, device=registration.device).pk
    return registration.credential


def in_scope(role: str, label: str) -> bool:
    """A device only calls the device API and the frame push; other operations would only answer 401/403."""
    if role != "device":
        return True
    path = label.split(" ", 1)[1]
    return path.startswith("/api/v1/devices/") or path.endswith("/frames")


@pytest.fixture
def auth_headers(request, make_user):
    role = request.param
    if role == "anonymous":
        return {}
    if role == "device":
        return {"Authorization": f"Device {device_credential()}"}
    user = make_user(role=role, username=f"contract-{role}")
    if role == "student":
        from campus.models import Student

        Student.objects.create(student_number="CONTRACT-1", first_name="Con", last_name="Tract", user=user)
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


@pytest.mark.timeout(BUDGET_SECONDS + 120)
@pytest.mark.parametrize("auth_headers", ROLES, indirect=True)
def test_api_contract(auth_headers, wsgi_app, in_process_requests, request, settings):
    role = request.node.callspec.params["auth_headers"]
    # The fuzzer is one client sending hundreds of anonymous requests a minute; the
    # anonymous throttle (tested in accounts) would turn the rest of the run into 429s.
    settings.ACCOUNTS_ANONYMOUS_RATE = "1000000/m"
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app, config=CONFIG)
    seed_small_campus()
    started = time.monotonic()
    failures: list[dict[str, Any]] = []
    skipped: list[str] = []
    seen_statuses: dict[str, Counter] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in NOT_FUZZED or ONLY not in label or not in_scope(role, label):
            continue
        if time.monotonic() - started > BUDGET_SECONDS:
            skipped.append(label)
            continue
        operations += 1
        statuses = seen_statuses[label] = Counter()
        found = fuzz(operation, auth_headers, GenerationMode.POSITIVE, statuses)
        found += fuzz(operation, auth_headers, GenerationMode.NEGATIVE, statuses)
        ids = existing_ids(operation) if "{id}" in operation.path else []
        if role == "device" and operation.path.endswith("/frames"):
            ids = [_device_camera["id"]]  # the device's own camera: the push is allowed there
        if ids:
            found += fuzz(operation, auth_headers, GenerationMode.POSITIVE, statuses, path_parameters={"id": ids[0]})
        failures.extend(f | {"role": role} for f in found)

    known = [f for f in failures if f["operation"] in KNOWN_FAILURES]
    unexpected = [f for f in failures if f["operation"] not in KNOWN_FAILURES]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"contract-{role}.json").write_text(
        json.dumps({"role": role, "operations": operations, "seconds": round(time.monotonic() - started, 1),
                    "not_reached": skipped, "known": known, "failures": unexpected,
                    # Which answers each operation gave: one that only ever said 401/403/404 was not exercised deeply.
                    "statuses": {label: dict(counts) for label, counts in seen_statuses.items()}},
                   indent=2, default=str)
    )
    summary = sorted({(f["operation"], f["status"], ", ".join(f["checks"])) for f in unexpected})
    assert not skipped, f"time budget of {BUDGET_SECONDS}s ran out before: {skipped}"
    assert not summary, f"{len(summary)} contract failures as {role}:\n" + "\n".join(
        f"  {op} -> {status}: {checks}" for op, status, checks in summary
    )
