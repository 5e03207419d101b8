"""`manage.py backup` / `restore`, the nightly task, retention, and what health and metrics say."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from config import backups
from config.backups import BackupError, apply_retention, create_backup, list_backups, restore_backup
from config.tasks import nightly_backup

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def backup_dir(tmp_path, settings):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_ROOT = tmp_path / "media"
    photo = settings.MEDIA_ROOT / "faces" / "s1.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"face bytes")
    return settings.BACKUP_DIR


def _files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


@pytest.mark.django_db
def test_backup_writes_a_verified_set_with_checksums(backup_dir, capsys):
    call_command("backup")
    names = _files(backup_dir)
    assert len(names) == 3
    dump, media, checksum = (backup_dir / n for n in sorted(names, key=lambda n: (".sha256" in n, ".media" in n)))
    assert dump.suffix == ".pgdump" and media.name.endswith(".media.tar.gz") and checksum.suffix == ".sha256"
    expected = {f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in (dump, media)}
    assert set(checksum.read_text().splitlines()) == expected
    toc = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=True).stdout
    assert "TABLE DATA public accounts_user" in toc and "TABLE DATA public django_celery_beat_periodictask" in toc
    with tarfile.open(media) as archive:
        assert archive.extractfile("media/faces/s1.jpg").read() == b"face bytes"
    assert "Backup verified" in capsys.readouterr().out


@pytest.mark.django_db
def test_unwritable_directory_is_a_clear_error_and_writes_nothing(tmp_path, settings):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.BACKUP_DIR = blocker / "backups"
    with pytest.raises(CommandError, match=r"Backup directory .*a-file/backups is not writable"):
        call_command("backup")
    assert _files(tmp_path) == ["a-file"]


def test_unreachable_database_exits_non_zero_with_a_clear_error(tmp_path):
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/campus_ops", "BACKUP_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "manage.py", "backup"], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Backup failed: Cannot reach the database at 127.0.0.1:1/campus_ops" in result.stderr
    assert _files(tmp_path) == []


def _fake_pg_bin(tmp_path: Path, script: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pg_dump").write_text("#!/bin/sh\n" + script)
    (bin_dir / "pg_dump").chmod(0o755)
    (bin_dir / "pg_restore").symlink_to(shutil.which("pg_restore"))
    return bin_dir


@pytest.mark.django_db
def test_a_dump_failing_halfway_leaves_nothing_behind(backup_dir, tmp_path, settings):
    real = shutil.which("pg_dump")
    settings.PG_BIN_DIR = str(_fake_pg_bin(tmp_path, f"""
case "$1" in --version) exec {real} --version;; esac
while [ $# -gt 0 ]; do [ "$1" = --file ] && out="$2"; shift; done
head -c 5000 /dev/urandom > "$out"; echo "pg_dump: error: could not write: No space left on device" >&2; exit 1
"""))
    with pytest.raises(BackupError, match=r"pg_dump failed .*No space left on device"):
        create_backup()
    assert _files(backup_dir) == []


@pytest.mark.django_db
def test_a_pg_dump_older_than_the_server_is_refused(backup_dir, tmp_path, settings):
    settings.PG_BIN_DIR = str(_fake_pg_bin(tmp_path, 'echo "pg_dump (PostgreSQL) 9.6.24"\n'))
    with pytest.raises(BackupError, match=r"pg_dump 9 cannot dump a PostgreSQL 1\d server; install postgresql-client"):
        create_backup()
    assert _files(backup_dir) == []


def _touch_set(directory: Path, stamp: datetime) -> None:
    base = "campus-" + stamp.strftime("%Y%m%dT%H%M%SZ")
    for suffix in (".pgdump", ".media.tar.gz", ".sha256"):
        (directory / (base + suffix)).write_text("x")


def test_retention_keeps_n_daily_and_m_weekly_backups(tmp_path):
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday
    day = datetime(2026, 10, 15, 2, 0, tzinfo=UTC)
    while day <= now:
        _touch_set(tmp_path, day)
        day += timedelta(days=1)
    _touch_set(tmp_path, datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    stale_tmp, fresh_tmp = tmp_path / ".tmp-campus-20261001T020000Z.pgdump", tmp_path / ".tmp-campus-now.pgdump"
    orphan = tmp_path / "campus-20261002T020000Z.pgdump"  # a crash before its checksum file was renamed
    for path in (stale_tmp, fresh_tmp, orphan):
        path.write_text("x")
    two_days_ago = now.timestamp() - 2 * 86400
    os.utime(stale_tmp, (two_days_ago, two_days_ago))
    os.utime(orphan, (two_days_ago, two_days_ago))
    for path in tmp_path.iterdir():
        if path not in (stale_tmp, orphan):
            os.utime(path, (now.timestamp(), now.timestamp()))

    apply_retention(tmp_path, now=now, keep_daily=7, keep_weekly=4)

    kept = sorted({name.split(".")[0] for name in _files(tmp_path) if name.startswith("campus-")})
    assert kept == [
        "campus-20261108T020000Z",  # newest of ISO week 45
        "campus-20261115T020000Z",  # newest of ISO week 46
        "campus-20261117T020000Z", "campus-20261118T020000Z", "campus-20261119T020000Z",
        "campus-20261120T020000Z", "campus-20261121T020000Z", "campus-20261122T020000Z",
        "campus-20261123T140000Z",  # the 02:00 one of the same day goes
    ]
    assert len(_files(tmp_path)) == 9 * 3 + 1 and fresh_tmp.exists()


def test_retention_never_removes_the_only_backup(tmp_path):
    _touch_set(tmp_path, datetime(2020, 1, 1, tzinfo=UTC))
    assert apply_retention(tmp_path, keep_daily=0, keep_weekly=0) == []
    assert len(list_backups(tmp_path)) == 1


def _gauges(text: str) -> dict[str, float]:
    return {
        name: float(value)
        for name, value in (line.split(" ", 1) for line in text.splitlines() if line.startswith("campus_backup_"))
    }


@pytest.mark.django_db
def test_nightly_task_backs_up_and_shows_in_health_and_metrics(backup_dir, client_for, staff_user, client):
    result = nightly_backup.delay().get()
    (latest,) = list_backups(backup_dir)
    assert result["file"] == str(latest.database) and result["size_bytes"] == latest.size_bytes

    component = client_for(staff_user).get("/health/full").json()["components"]["backups"]
    assert component["ok"] is True
    assert component["last_success"]["file"] == latest.database.name
    assert component["last_success"]["size_bytes"] == latest.size_bytes
    assert component["last_run"]["status"] == "ok"
    metrics = _gauges(client.get("/metrics").content.decode())
    assert metrics["campus_backup_last_size_bytes"] == latest.size_bytes
    assert metrics["campus_backup_last_success_timestamp_seconds"] == latest.stamp.timestamp()
    assert metrics["campus_backup_last_run_failed"] == 0


@pytest.mark.django_db
def test_a_failed_nightly_backup_is_logged_and_shown(tmp_path, settings, client_for, staff_user, client, caplog):
    (tmp_path / "file").write_text("x")
    settings.BACKUP_DIR = tmp_path / "file" / "backups"
    with caplog.at_level(logging.ERROR, logger="campus.backup"), pytest.raises(BackupError):
        nightly_backup.delay().get()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == ["backup failed"]
    assert "not writable" in caplog.records[-1].error

    response = client_for(staff_user).get("/health/full")
    assert response.status_code == 503
    component = response.json()["components"]["backups"]
    assert component["ok"] is False and "the last backup failed" in component["error"]
    assert _gauges(client.get("/metrics").content.decode())["campus_backup_last_run_failed"] == 1


@pytest.mark.django_db
def test_a_stale_backup_makes_health_fail(backup_dir, settings, client_for, staff_user):
    backup_dir.mkdir()
    _touch_set(backup_dir, datetime.now(UTC) - timedelta(hours=settings.BACKUP_MAX_AGE_HOURS + 1))
    component = client_for(staff_user).get("/health/full").json()["components"]["backups"]
    assert component["ok"] is False and "hours old" in component["error"]


@pytest.mark.django_db
def test_restore_refuses_without_confirmation(backup_dir):
    with pytest.raises(CommandError, match="--yes-i-am-sure"):
        call_command("restore", str(backup_dir / "campus-20260101T000000Z.pgdump"))


@pytest.mark.django_db
def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    stray = tmp_path / "dump.sql"
    stray.write_text("DROP TABLE accounts_user;")
    with pytest.raises(CommandError, match="is not a database backup"):
        call_command("restore", str(stray), "--yes-i-am-sure")


class _SqliteConnection:
    vendor = "sqlite"

    def __init__(self, path: Path) -> None:
        self.settings_dict = {"NAME": str(path)}


def test_sqlite_online_backup_verify_and_restore(tmp_path, settings, monkeypatch):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_ROOT = tmp_path / "media"
    live = tmp_path / "campus.sqlite3"
    with sqlite3.connect(live) as conn:
        conn.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT)")
        conn.executemany("INSERT INTO note (text) VALUES (?)", [(f"note {n}",) for n in range(100)])
    monkeypatch.setattr(backups, "connection", _SqliteConnection(live))
    monkeypatch.setattr(backups.connections, "close_all", lambda: None)

    backup = create_backup()
    assert backup.database.suffix == ".sqlite3"
    with sqlite3.connect(backup.database) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT count(*) FROM note").fetchone()[0] == 100
    with sqlite3.connect(live) as conn:
        conn.execute("DELETE FROM note WHERE id > 10")

    restore_backup(backup.database)

    with sqlite3.connect(live) as conn:
        assert conn.execute("SELECT count(*), max(text) FROM note").fetchone() == (100, "note 99")


def test_restore_keeps_the_media_it_replaces(tmp_path, settings, monkeypatch):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "old.jpg").write_bytes(b"old")
    live = tmp_path / "campus.sqlite3"
    sqlite3.connect(live).close()
    monkeypatch.setattr(backups, "connection", _SqliteConnection(live))
    monkeypatch.setattr(backups.connections, "close_all", lambda: None)
    backup = create_backup()
    (tmp_path / "media" / "old.jpg").write_bytes(b"changed since the backup")
    time.sleep(1)  # the previous media directory is named by the second

    result = restore_backup(backup.database)

    assert (tmp_path / "media" / "old.jpg").read_bytes() == b"old"
    assert (Path(result["previous_media"]) / "old.jpg").read_bytes() == b"changed since the backup"


@pytest.mark.django_db
def test_backup_files_are_owner_only(backup_dir):
    backup_dir.mkdir(mode=0o755)
    backup_dir.chmod(0o755)
    create_backup()
    assert backup_dir.stat().st_mode & 0o777 == 0o700
    modes = {path.name: path.stat().st_mode & 0o777 for path in backup_dir.iterdir()}
    assert len(modes) == 3 and set(modes.values()) == {0o600}, modes
