"""Fault tests: Redis stopped, PostgreSQL refusing connections, a worker killed mid-task.

The faults are made only on things these tests start themselves: a private
redis-server, a TCP proxy between our processes and PostgreSQL, our own
gunicorn and Celery worker children. The machine's shared PostgreSQL and Redis
are never stopped. Every wait is bounded and every test restores what it broke.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, make_password
from django.db import connection
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from .fault_tools import (
    CeleryWorker,
    PrivateRedis,
    ServedApp,
    TcpProxy,
    database_url_for,
    lines,
    wait_for_other_sessions_to_end,
    wait_until,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]

PASSWORD = "Correct-Horse-9-Battery"  # accounts.tests.factories.DEFAULT_TEST_PASSWORD


def with_served_password(user):
    """Hashes PASSWORD with Argon2: the served app does not know the tests' fast MD5 hasher."""
    user.password = make_password(PASSWORD, hasher=Argon2PasswordHasher())
    user.save(update_fields=["password"])
    return user


def bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def assert_error_format(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["request_id"] == response.headers["X-Request-ID"]
    if code is not None:
        assert error["code"] == code
    return error


def app_env(*, database_url: str, redis: PrivateRedis) -> dict[str, str]:
    return {
        "DEBUG": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url(0),
        "CELERY_BROKER_URL": redis.url(1),
        "CACHE_KEY_PREFIX": "proof-faults",
        # The deployment's own pool wait (DB_POOL_TIMEOUT, 2 s by default) is what is tested.
        "DB_CONNECT_TIMEOUT": "2",
        "LOG_LEVEL": "WARNING",
    }


# --- Redis stopped -------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_redis_down_reads_served_ready_503_login_and_reset_fail_closed(private_redis, make_user):
    from accounts.sessions import start_session

    staff = with_served_password(make_user(role="staff", username="fault-staff"))
    refresh_token = start_session(user=staff).refresh
    env = app_env(database_url=database_url_for(connection.settings_dict), redis=private_redis)
    with ServedApp(env) as app, httpx.Client(base_url=app.base_url, timeout=10) as http:
        assert http.get("/health/ready").status_code == 200

        private_redis.stop()
        try:
            ready = http.get("/health/ready")
            assert ready.status_code == 503
            assert "cache" in ready.json()["failed"]
            assert http.get("/health/live").status_code == 200
            assert http.get("/api/v1/ping").json() == {"pong": True}

            # An authenticated API read needs only PostgreSQL: it is still served.
            me = http.get(READ_PATH, headers=bearer(staff))
            assert me.status_code == 200, me.text[:500]
            assert me.json()["username"] == "fault-staff"
            records = http.get("/api/v1/attendance/records", headers=bearer(staff))
            assert records.status_code == 200, records.text[:500]
            assert records.json()["results"] == []
            # The dashboard summary is cached in Redis; without it, it is computed each time.
            summary = http.get("/api/v1/dashboard/summary", headers=bearer(staff))
            assert summary.status_code == 200, summary.text[:500]
            assert summary.json()["sessions"]["total"] == 0

            # Login is rate-limited on Redis and fails closed (accounts' documented policy):
            # 503 in the error format, never 500 and never an unlimited endpoint.
            login = http.post(LOGIN_PATH, json={"username": "fault-staff", "password": PASSWORD})
            assert_error_format(login, 503, "rate_limit_unavailable")
            reset = http.post("/api/v1/auth/password/reset", json={"email": staff.email})
            assert_error_format(reset, 503, "rate_limit_unavailable")
            # The anonymous throttle fails open: token refresh (anonymous) keeps working.
            refreshed = http.post("/api/v1/auth/refresh", json={"refresh": refresh_token})
            assert refreshed.status_code == 200, refreshed.text[:500]
            assert refreshed.json()["access"]
            assert app.alive
        finally:
            private_redis.start()

        wait_until(lambda: http.get("/health/ready").status_code == 200, timeout=15, interval=0.3,
                   what="/health/ready to recover after Redis came back")
        login = http.post(LOGIN_PATH, json={"username": "fault-staff", "password": PASSWORD})
        assert login.status_code == 200, login.text[:500]
        assert login.json()["access"]
    wait_for_other_sessions_to_end(connection)


# --- PostgreSQL refusing connections ------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_postgres_refusing_gives_503_in_error_format_and_recovers(private_redis, make_user):
    from django.test import Client

    staff = make_user(role="staff", username="fault-staff-pg")
    browser = Client()
    browser.force_login(staff)
    session_cookie = {"sessionid": browser.cookies["sessionid"].value}
    db = connection.settings_dict
    with TcpProxy(db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)) as proxy:
        env = app_env(database_url=database_url_for(db, port=proxy.port), redis=private_redis)
        with ServedApp(env) as app, httpx.Client(base_url=app.base_url, timeout=15) as http:
            assert http.get(READ_PATH, headers=bearer(staff)).status_code == 200
            assert proxy.connections_made >= 1

            proxy.refuse()
            try:
                started = time.monotonic()
                down = http.get(READ_PATH, headers=bearer(staff))
                assert_error_format(down, 503, "service_unavailable")
                assert down.headers.get("Retry-After")
                assert time.monotonic() - started < 4  # one pool wait (2 s), not 10 s
                # A session cookie: the access log must not load the session a second time
                # (that was a second wait and a 500).
                for path in (READ_PATH, "/admin/"):
                    started = time.monotonic()
                    with_cookie = http.get(path, cookies=session_cookie)
                    assert_error_format(with_cookie, 503, "service_unavailable")
                    assert time.monotonic() - started < 4
                ready = http.get("/health/ready")
                assert ready.status_code == 503
                assert "database" in ready.json()["failed"]
                assert http.get("/health/live").status_code == 200
                assert app.alive
            finally:
                proxy.accept()

            # The pool's health check replaces the dead connections: no restart needed.
            wait_until(lambda: http.get(READ_PATH, headers=bearer(staff)).status_code == 200,
                       timeout=20, interval=0.5, what="reads to recover after PostgreSQL came back")
            assert http.get("/health/ready").status_code == 200
    wait_for_other_sessions_to_end(connection)


# --- A worker killed in the middle of a task ------------------------------------

def test_task_of_killed_worker_is_redelivered_to_next_worker(private_redis, tmp_path):
    """acks_late + reject_on_worker_lost: a SIGKILLed worker's task runs again elsewhere."""
    from .fault_tools import app as celery_app

    visibility = 2
    env = {
        "CELERY_BROKER_URL": private_redis.url(2),
        "REDIS_URL": private_redis.url(3),
        "CELERY_VISIBILITY_TIMEOUT": str(visibility),
        "CACHE_KEY_PREFIX": "proof-faults",
    }
    first = CeleryWorker(env, app="config.tests.fault_tools", name="first").start()
    second = CeleryWorker(env, app="config.tests.fault_tools", name="second")
    try:
        first.wait_ready()
        with celery_app.connection_for_write(private_redis.url(2)) as conn:
            celery_app.send_task("proof.blocking_probe", args=[str(tmp_path), 60], connection=conn)
        delivered_at = time.monotonic()
        wait_until(lambda: len(lines(tmp_path / "started")) == 1, timeout=30, what="the task to start")
        first_pid = lines(tmp_path / "started")[0]

        first.kill()
        assert not (tmp_path / "finished").exists()

        # The unacked message becomes visible again after the visibility timeout;
        # the next worker restores it when it starts polling.
        time.sleep(max(0.0, visibility + 0.5 - (time.monotonic() - delivered_at)))
        second.start()
        second.wait_ready()
        wait_until(lambda: len(lines(tmp_path / "started")) == 2, timeout=40, what="the task to be redelivered")
        (tmp_path / "release").touch()
        wait_until(lambda: len(lines(tmp_path / "finished")) >= 1, timeout=30, what="the task to finish")
        time.sleep(1)  # a duplicate delivery, if any, would show up here

        started, finished = lines(tmp_path / "started"), lines(tmp_path / "finished")
        assert len(started) == 2, "delivered once to the killed worker and once more to the next"
        assert started[0] == first_pid and started[1] != first_pid
        assert finished == [started[1]], "finished exactly once, by the second worker"
    finally:
        first.kill()
        second.stop()


LOGIN_PATH = "/api/v1/auth/login"
READ_PATH = "/api/v1/auth/me"


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_frame_frame_is_processed_again_one_attendance_record(private_redis, settings, tmp_path):
    """SIGKILL a worker while it processes a frame: the next worker processes it; one record results."""
    from attendance.models import AttendanceRecord
    from cameras.intake import receive_frame
    from cameras.models import Frame
    from cameras.services import enrol_face
    from cameras.tests.factories import CameraFactory
    from campus.tests.factories import EnrolmentFactory, RoomFactory, SectionFactory, StudentFactory

    from .fault_tools import app as celery_app

    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    faces = Path(__file__).resolve().parents[2] / "cameras" / "tests" / "fixtures" / "faces"
    room = RoomFactory()
    session = open_session_now(room=room, section=SectionFactory())
    student = StudentFactory(face_consent_at=timezone.now(), first_name="Barack", last_name="Obama")
    EnrolmentFactory(section=session.section, student=student, enrolled_on=session.date - dt.timedelta(days=30))
    enrol_face(student=student, image_bytes=(faces / "obama.jpg").read_bytes(), via="test")
    camera = CameraFactory(room=room)
    receipt = receive_frame(camera=camera, data=(faces / "obama_480p.jpg").read_bytes(), enqueue=False)
    frame = receipt.frame
    assert receipt.queued and frame.state == "pending"

    timeout = 3  # both the broker's visibility timeout and the frame claim timeout
    env = {
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CELERY_BROKER_URL": private_redis.url(2),
        "REDIS_URL": private_redis.url(3),
        "CACHE_KEY_PREFIX": "proof-faults",
        "CELERY_VISIBILITY_TIMEOUT": str(timeout),
        "FRAME_CLAIM_TIMEOUT_SECONDS": str(timeout),
        "FACE_CONSENSUS_SIGHTINGS": "1",
        "MEDIA_ROOT": str(media),
    }
    first = CeleryWorker(env, queues="frames", name="frames-first").start()
    second = CeleryWorker(env, queues="frames", name="frames-second")
    try:
        first.wait_ready()
        with celery_app.connection_for_write(private_redis.url(2)) as conn:
            celery_app.send_task("cameras.tasks.process_frame", args=[frame.pk], connection=conn)
        sent_at = time.monotonic()

        def state() -> str:
            return Frame.objects.values_list("state", flat=True).get(pk=frame.pk)

        wait_until(lambda: state() != "pending", timeout=30, interval=0.02, what="the first worker to claim")
        first.kill()
        at_kill = Frame.objects.get(pk=frame.pk)
        assert at_kill.state == "processing", f"the kill landed after the task ended ({at_kill.state}): retry"
        assert at_kill.attempts == 1

        time.sleep(max(0.0, timeout + 1 - (time.monotonic() - sent_at)))
        second.start()
        second.wait_ready()
        wait_until(lambda: state() not in {"pending", "processing"}, timeout=60, interval=0.2,
                   what="the frame to be processed again")
        time.sleep(1)  # a duplicate delivery would show up here

        frame.refresh_from_db()
        assert frame.state == "done", (frame.state, frame.reason)
        assert frame.attempts == 2
        records = AttendanceRecord.objects.filter(student=student)
        assert records.count() == 1
        record = records.get()
        assert record.session_id == session.pk
        assert record.status in {"present", "late"}
        assert record.source == "face"
    finally:
        first.kill()
        second.stop()
        wait_for_other_sessions_to_end(connection)


def open_session_now(*, room, section):
    from attendance.choices import SessionStatus
    from attendance.tests.factories import ClassSessionFactory

    now = timezone.now()
    return ClassSessionFactory(
        room=room, section=section, date=timezone.localdate(now), status=SessionStatus.OPEN,
        scheduled_start=now - dt.timedelta(minutes=5), scheduled_end=now + dt.timedelta(minutes=55),
        opened_at=now - dt.timedelta(minutes=5),
    )
