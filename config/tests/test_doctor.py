"""`manage.py doctor`, and the slow request / slow query log lines it relies on operators reading."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from pythonjsonlogger.json import JsonFormatter

from config import doctor, status
from config.backups import create_backup
from config.beat import BeatLock
from config.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def beat_running(settings):
    settings.BEAT_LOCK_KEY = f"test-doctor-beat-{uuid.uuid4().hex[:8]}"
    lock = BeatLock()
    assert lock.acquire()
    yield lock
    lock.release()


@pytest.fixture
def fresh_backup(db, tmp_path, settings):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_ROOT = tmp_path / "media"
    return create_backup()


@pytest.fixture
def worker(django_db_setup):
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"],
    }
    name = f"doctor-test-{uuid.uuid4().hex[:6]}@localhost"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-n", name,
         "-Q", f"ops-doctor-{uuid.uuid4().hex[:6]}", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if name in (celery_app.control.inspect(timeout=1, destination=[name]).ping() or {}):
            break
        assert process.poll() is None, "the worker exited"
    else:
        pytest.fail("the test worker never answered a ping")
    yield name
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.django_db
def test_all_checks_pass_when_everything_runs(worker, beat_running, fresh_backup, capsys):
    call_command("doctor")
    out = capsys.readouterr().out
    for name in ("database", "cache", "broker", "beat", "celery config", "disk", "face models"):
        assert any(line.startswith("OK") and f"  {name} " in line for line in out.splitlines()), (name, out)
    assert f"{worker}" in out
    assert fresh_backup.database.name in out
    assert out.rstrip().endswith("All checks passed.")


@pytest.mark.django_db
def test_missing_worker_and_beat_fail_the_command(fresh_backup, settings, capsys):
    settings.BEAT_LOCK_KEY = f"test-no-beat-{uuid.uuid4().hex[:8]}"
    settings.DOCTOR_WORKER_PING_TIMEOUT = 0.3
    with pytest.raises(CommandError, match=r"check\(s\) failed: .*workers, beat"):
        call_command("doctor")
    out = capsys.readouterr().out
    assert "FAIL  workers" in out and "no worker answered a ping within 0.3s" in out
    assert "FAIL  beat" in out and "celery beat is not running" in out
    assert "OK    database" in out


@pytest.mark.django_db
def test_only_runs_the_named_checks(beat_running, settings, capsys):
    settings.DOCTOR_WORKER_PING_TIMEOUT = 0.3  # no worker runs: the report would fail if it asked
    call_command("doctor", "--only", "beat", "--only", "database")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [["OK", "database"], ["OK", "beat"]]
    assert lines[-1] == "All checks passed."
    settings.BEAT_HEARTBEAT_STALE_SECONDS = -1
    with pytest.raises(CommandError, match=r"1 check\(s\) failed: beat"):
        call_command("doctor", "--only", "beat")
    with pytest.raises(CommandError, match="Unknown check"):
        call_command("doctor", "--only", "coffee")


@pytest.mark.django_db
def test_stale_beat_heartbeat_fails(beat_running, settings):
    settings.BEAT_HEARTBEAT_STALE_SECONDS = -1
    status, detail = doctor.check_beat()
    assert status == doctor.FAIL and "stuck or dead" in detail


@pytest.mark.django_db
def test_low_disk_space_fails(settings):
    settings.DOCTOR_MIN_FREE_DISK_MB = 10**12
    status, detail = doctor.check_disk()
    assert status == doctor.FAIL and "minimum" in detail


@pytest.mark.django_db
def test_a_failed_backup_fails_the_report(tmp_path, settings):
    from config.backups import BackupError, run_backup

    (tmp_path / "f").write_text("x")
    settings.BACKUP_DIR = tmp_path / "f" / "backups"
    with pytest.raises(BackupError):
        run_backup()
    status, detail = doctor.check_backups()
    assert status == doctor.FAIL and "the last backup failed" in detail


def test_every_status_source_is_a_check_that_warns_unless_all_are_online():
    # The composition provides cameras and devices; the checks are whatever is provided.
    assert list(doctor.checks())[-3:] == ["cameras", "devices", "backups"]
    with status.sources.replaced({"cameras": lambda: {"online": 1, "offline": 1, "total": 2},
                                  "devices": lambda: {"online": 2, "total": 2}}):
        checks = doctor.checks()
        assert checks["cameras"]() == (doctor.WARN, "online 1, offline 1, total 2")
        assert checks["devices"]() == (doctor.OK, "online 2, total 2")
    with status.sources.replaced({}):
        assert "cameras" not in doctor.checks()


@pytest.mark.django_db
def test_json_report_and_skip(capsys, settings):
    settings.DOCTOR_WORKER_PING_TIMEOUT = 0.3
    with pytest.raises(CommandError):
        call_command("doctor", "--json", "--skip", "disk")
    report = json.loads(capsys.readouterr().out)
    by_name = {check["name"]: check for check in report["checks"]}
    assert report["ok"] is False
    assert by_name["disk"]["status"] == "SKIP" and by_name["database"]["status"] == "OK"
    with pytest.raises(CommandError, match="Unknown check"):
        call_command("doctor", "--skip", "coffee")


def test_unreachable_database_is_reported_and_exits_non_zero():
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/campus_ops", "DB_POOL": "0",
           "DOCTOR_WORKER_PING_TIMEOUT": "0.3"}
    result = subprocess.run([sys.executable, "manage.py", "doctor"], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("FAIL  database") and "Connection refused" in line for line in lines), result.stdout
    assert any(line.startswith("SKIP  schedule") and "database unreachable" in line for line in lines)
    assert "failed: database" in result.stderr


# --- Slow requests and slow queries, logged as JSON ------------------------------------
def _as_json(record: logging.LogRecord) -> dict:
    formatter = JsonFormatter(**{k: v for k, v in django_settings.LOGGING["formatters"]["json"].items() if k != "()"})
    return json.loads(formatter.format(record))


@pytest.mark.django_db
def test_slow_queries_are_logged_as_json(settings, caplog):
    settings.SLOW_QUERY_MS = 30
    with caplog.at_level(logging.WARNING, logger="campus.slow_query"), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.execute("SELECT pg_sleep(0.06)")
    (record,) = caplog.records
    line = _as_json(record)
    assert line["message"] == "slow query" and line["level"] == "WARNING"
    assert line["sql"] == "SELECT pg_sleep(0.06)" and line["duration_ms"] >= 60 and line["alias"] == "default"


@pytest.mark.django_db
def test_fast_queries_are_not_logged(settings, caplog):
    settings.SLOW_QUERY_MS = 10_000
    with caplog.at_level(logging.WARNING, logger="campus.slow_query"), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.01)")
    assert caplog.records == []


def test_slow_requests_are_logged_as_json(settings, client, caplog):
    settings.SLOW_REQUEST_MS = 0
    with caplog.at_level(logging.INFO, logger="campus.access"):
        client.get("/health/live", HTTP_X_REQUEST_ID="slow-req-1")
    (record,) = [r for r in caplog.records if r.getMessage() == "slow request"]
    line = _as_json(record)
    assert line["path"] == "/health/live" and line["slow"] is True and line["request_id"] == "slow-req-1"
    assert isinstance(line["duration_ms"], float)
