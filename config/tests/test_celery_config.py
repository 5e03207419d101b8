"""The failure modes a Celery + Redis + PostgreSQL stack is known for, each pinned by a test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import redis
from celery.app.trace import build_tracer
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from config import checks
from config.celery import app as celery_app
from config.doctor import longest_task_time_limit

calls: list[str] = []


@celery_app.task(name="config.tests.probe", acks_late=True)
def probe(marker: str = "") -> str:
    calls.append(marker)
    return marker


@celery_app.task(name="config.tests.flaky", bind=True, retry_backoff=0)
def flaky(self, failures: int) -> int:
    calls.append("try")
    if len(calls) <= failures:
        raise OperationalError("server closed the connection unexpectedly")
    return len(calls)


@pytest.fixture(autouse=True)
def _reset_calls():
    calls.clear()


@pytest.fixture
def real_broker():
    """Publishing goes to Redis (this run's own db) instead of running eagerly."""
    celery_app.conf.task_always_eager = False
    queue = f"ops-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    yield queue, client
    celery_app.conf.task_always_eager = True
    client.delete(queue)


def test_only_json_is_sent_and_accepted():
    assert celery_app.conf.task_serializer == "json"
    assert celery_app.conf.result_serializer == "json"
    assert list(celery_app.conf.accept_content) == ["json"]


def test_late_ack_and_one_message_per_worker_process():
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_reject_on_worker_lost is True
    assert celery_app.conf.worker_prefetch_multiplier == 1


def queue_of(task_name: str) -> str:
    return celery_app.amqp.router.route({}, task_name)["queue"].name


def test_work_is_split_into_queues_by_kind():
    # Frames alone on `frames`, so a backup or a slow camera never takes frame capacity.
    celery_app.loader.import_default_modules()
    assert queue_of("cameras.tasks.process_frame") == "frames"
    assert queue_of("cameras.tasks.poll_cameras") == "polling"
    assert queue_of("cameras.tasks.capture_camera") == "polling"
    for name in ("config.tasks.nightly_backup", "config.tasks.purge_expired", "accounts.tasks.flush_expired_tokens",
                 "attendance.tasks.daily_summary"):
        assert queue_of(name) == "maintenance", name
    for name in ("attendance.tasks.open_due_sessions", "attendance.tasks.close_finished_sessions",
                 "devices.tasks.mark_offline_devices", "devices.tasks.expire_registration_tokens"):
        assert queue_of(name) == "default", name
    assert {queue.name for queue in celery_app.conf.task_queues} == {"frames", "polling", "maintenance", "default"}



def test_every_queue_has_exactly_one_worker_in_the_procfile():
    consumers: dict[str, list[str]] = {}
    for line in (Path(__file__).resolve().parents[2] / "Procfile").read_text().splitlines():
        if " worker " in line and " -Q " in line:
            process = line.split(":", 1)[0]
            for queue in line.split(" -Q ", 1)[1].split()[0].split(","):
                consumers.setdefault(queue, []).append(process)
    assert consumers == {"frames": ["worker-frames"], "default": ["worker"], "polling": ["worker"],
                         "maintenance": ["worker-maintenance"]}


def test_every_task_has_a_time_limit():
    celery_app.loader.import_default_modules()
    assert celery_app.conf.task_time_limit and celery_app.conf.task_soft_time_limit
    assert celery_app.conf.task_soft_time_limit < celery_app.conf.task_time_limit
    for name in ("config.tasks.nightly_backup", "config.tasks.purge_expired"):
        task = celery_app.tasks[name]
        assert task.soft_time_limit < task.time_limit


def test_visibility_timeout_outlasts_the_longest_task_and_eta():
    # Otherwise Redis hands a still-running (or still-waiting) task to a second worker.
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    visibility = celery_app.conf.broker_transport_options["visibility_timeout"]
    longest = longest_task_time_limit()
    assert longest >= celery_app.tasks["config.tasks.nightly_backup"].time_limit
    assert visibility > longest + settings.CELERY_MAX_ETA_SECONDS


def test_countdown_or_eta_beyond_the_limit_is_refused(real_broker):
    queue, client = real_broker
    with pytest.raises(ValueError, match="CELERY_MAX_ETA_SECONDS"):
        probe.apply_async(countdown=settings.CELERY_MAX_ETA_SECONDS + 1, queue=queue)
    with pytest.raises(ValueError, match="CELERY_MAX_ETA_SECONDS"):
        probe.apply_async(eta=timezone.now() + timedelta(seconds=settings.CELERY_MAX_ETA_SECONDS + 60), queue=queue)
    assert client.llen(queue) == 0
    probe.apply_async(countdown=10, queue=queue)
    assert client.llen(queue) == 1


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_enqueues_nothing(real_broker):
    queue, client = real_broker
    with pytest.raises(RuntimeError), transaction.atomic():
        probe.apply_async_on_commit(args=["rolled back"], queue=queue)
        raise RuntimeError("the service failed after scheduling its side effect")
    assert client.llen(queue) == 0


@pytest.mark.django_db(transaction=True)
def test_committed_transaction_enqueues_once_after_commit(real_broker):
    queue, client = real_broker
    with transaction.atomic():
        probe.apply_async_on_commit(args=["committed"], queue=queue)
        assert client.llen(queue) == 0  # nothing is sent before the commit
    assert client.llen(queue) == 1


@pytest.mark.django_db(transaction=True)
def test_delay_on_commit_runs_only_after_commit():
    with transaction.atomic():
        probe.delay_on_commit("after commit")
        assert calls == []
    assert calls == ["after commit"]


def _deliver(task, task_id: str, *, retries: int = 0):
    """What a worker does with a message: trace the task with the broker's request."""
    tracer = build_tracer(task.name, task, eager=False, propagate=False, app=celery_app)
    request = {"id": task_id, "retries": retries, "is_eager": False, "delivery_info": {"redelivered": True}}
    return tracer(task_id, ["x"], {}, request=request)


def test_redeliveries_after_lost_workers_are_capped():
    task_id = uuid.uuid4().hex
    for _ in range(settings.CELERY_MAX_DELIVERIES + 2):
        _deliver(probe, task_id)
    # Each delivery beyond the cap is rejected without running the task.
    assert calls == ["x"] * settings.CELERY_MAX_DELIVERIES


def test_a_retry_is_counted_apart_from_redeliveries():
    task_id = uuid.uuid4().hex
    for _ in range(settings.CELERY_MAX_DELIVERIES):
        _deliver(probe, task_id)
    _deliver(probe, task_id, retries=1)
    assert len(calls) == settings.CELERY_MAX_DELIVERIES + 1


@pytest.fixture
def retries_run_eagerly():
    # Eager propagation would raise the Retry itself instead of running the retry.
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = True


def test_transient_errors_are_retried_with_backoff(retries_run_eagerly):
    assert flaky.max_retries == 5 and probe.retry_backoff is True and probe.retry_jitter is True
    assert flaky.apply(args=[2]).get() == 3
    assert calls == ["try"] * 3


def test_retries_stop_at_the_cap(retries_run_eagerly):
    with pytest.raises(OperationalError):
        flaky.apply(args=[100]).get()
    assert len(calls) == flaky.max_retries + 1


def test_time_is_utc_everywhere(settings):
    assert settings.USE_TZ is True
    assert settings.TIME_ZONE == "UTC"
    assert celery_app.conf.enable_utc is True and str(celery_app.conf.timezone) == "UTC"
    assert checks.time_is_utc() == []
    settings.USE_TZ = False
    assert [error.id for error in checks.time_is_utc()] == ["config.E001"]


def _kill(pid: int) -> None:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"] or None, user=db["USER"], password=db["PASSWORD"] or None,
        dbname=db["NAME"], autocommit=True,
    ) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0] is True
        for _ in range(50):
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                return
            time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_connections_survive_a_server_side_disconnect(client):
    # What a PostgreSQL restart does to every open connection, done to ours only.
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        old_pid = cursor.fetchone()[0]
    _kill(old_pid)

    # Every request (and every Celery task) starts with close_old_connections(); the
    # test client skips that signal, so send it as a real WSGI request would.
    request_started.send(sender=WSGIHandler)
    response = client.get("/health/ready")

    assert response.status_code == 200, response.content
    assert response.json()["checks"]["database"] == "ok"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid


RECONNECT_WITHOUT_POOL = """
import time, psycopg
from django.db import close_old_connections, connection
assert not connection.settings_dict["OPTIONS"].get("pool") and connection.settings_dict["CONN_MAX_AGE"] > 0
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_backend_pid()")
    old = cursor.fetchone()[0]
db = connection.settings_dict
with psycopg.connect(host=db["HOST"], port=db["PORT"] or None, user=db["USER"], dbname=db["NAME"],
                     autocommit=True) as admin:
    admin.execute("SELECT pg_terminate_backend(%s)", [old])
    while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [old]).fetchone():
        time.sleep(0.05)
close_old_connections()  # what request_started and Celery's task_prerun do
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_backend_pid()")
    print("PIDS", old, cursor.fetchone()[0])
"""


@pytest.mark.django_db
def test_persistent_connections_without_the_pool_also_survive():
    env = {**os.environ, "DB_POOL": "0", "DB_CONN_MAX_AGE": "60",
           "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", RECONNECT_WITHOUT_POOL],
                            cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    _, old, new = result.stdout.split()[-3:]
    assert old != new
