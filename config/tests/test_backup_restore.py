"""The whole round trip against the real PostgreSQL, the way an operator runs it.

Everything happens in this suite's own scratch database (`campus_ops_restore`
by default, never another suite's): migrate, write data and media, back up,
wipe, restore, then prove the data came back (migrate --check, row counts,
checksums of the key tables, the media bytes, a request served from it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dj_database_url
import psycopg
import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
SCRATCH_DB = os.environ.get("OPS_RESTORE_DATABASE_NAME", "campus_ops_restore")
KEY_TABLES = (
    "accounts_user", "auth_group", "accounts_auditevent", "campus_building", "campus_room",
    "django_celery_beat_periodictask",
)

WRITE_DATA = """
from django.utils import timezone
from accounts.audit import record_audit_event
from accounts.services import create_user
from campus.models import Building, Room
from django_celery_beat.models import PeriodicTask
admin = create_user(username="restore-admin", email="ra@example.org", password="Restore-pass-2026!", role="admin")
admin.is_staff = True
admin.is_superuser = True
admin.save()
for n in range(25):
    create_user(username=f"student{n}", email=f"s{n}@example.org", password=None, role="student")
    record_audit_event(action="test.write", actor=admin, target=f"student{n}", details={"n": n, "text": "é ü"})
building = Building.objects.create(code="SCI", name="Science")
for n in range(5):
    Room.objects.create(building=building, code=f"SCI-{n}", name=f"Lab {n}", capacity=20 + n)
PeriodicTask.objects.filter(name="config.tasks.nightly_backup").update(enabled=False)
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
default_storage.save("faces/enrolments/2026/12/student7.jpg", ContentFile(b"stored photo " * 200))
"""

# The default storage (STORAGE_BACKEND=database) keeps files as rows: they come back with the dump.
READ_STORED_PHOTO = """
from django.core.files.storage import default_storage
print(default_storage.open("faces/enrolments/2026/12/student7.jpg").read() == b"stored photo " * 200)
"""

SMOKE_REQUEST = """
import json
from django.test import Client
client = Client()
logged_in = client.login(username="restore-admin", password="Restore-pass-2026!")
response = client.get("/admin/accounts/user/?q=student1")
ready = Client().get("/health/ready")
print(json.dumps({"logged_in": logged_in, "status": response.status_code,
                  "has_student": b"student12" in response.content, "ready": ready.status_code}))
"""


def _admin_params() -> dict:
    db = dj_database_url.parse(os.environ["DATABASE_URL"])
    return {"host": db["HOST"] or None, "port": db["PORT"] or None, "user": db["USER"] or None,
            "password": db["PASSWORD"] or None}


def _sql(query: str, dbname: str = SCRATCH_DB):
    with psycopg.connect(dbname=dbname, autocommit=True, **_admin_params()) as conn:
        cursor = conn.execute(query)
        return cursor.fetchall() if cursor.description else None


@pytest.fixture
def scratch(tmp_path):
    _sql(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)', dbname="postgres")
    _sql(f'CREATE DATABASE "{SCRATCH_DB}"', dbname="postgres")
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + SCRATCH_DB
    env = {
        **os.environ, "DATABASE_URL": url, "BACKUP_DIR": str(tmp_path / "backups"),
        "MEDIA_ROOT": str(tmp_path / "media"), "DEBUG": "1", "DB_POOL": "0",
    }
    env.pop("TEST_DATABASE_NAME", None)
    yield env, tmp_path
    _sql(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)', dbname="postgres")


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )


def snapshot() -> dict[str, tuple[int, str]]:
    """Row count and an md5 over every row's text, in id order, per key table."""
    return {
        table: tuple(_sql(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM {table} t"  # noqa: S608
        )[0])
        for table in KEY_TABLES
    }


@pytest.mark.slow
def test_backup_wipe_restore_gives_back_the_same_data(scratch):
    env, tmp = scratch
    assert manage(env, "migrate", "--noinput").returncode == 0
    written = manage(env, "shell", "-c", WRITE_DATA)
    assert written.returncode == 0, written.stderr
    photo = tmp / "media" / "faces" / "student12.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"\xff\xd8 not really a jpeg \x00\x01" * 100)
    before = snapshot()
    assert before["accounts_user"][0] == 26 and before["campus_room"][0] == 5

    backup = manage(env, "backup")
    assert backup.returncode == 0, backup.stderr
    (dump,) = (tmp / "backups").glob("campus-*.pgdump")

    # Wipe: every table gone, media gone.
    _sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    photo.unlink()
    assert _sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0] == 0

    refused = manage(env, "restore", str(dump))
    assert refused.returncode != 0 and "--yes-i-am-sure" in refused.stderr
    assert _sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0] == 0

    restored = manage(env, "restore", str(dump), "--yes-i-am-sure")
    assert restored.returncode == 0, restored.stderr

    check = manage(env, "migrate", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert snapshot() == before
    assert photo.read_bytes() == b"\xff\xd8 not really a jpeg \x00\x01" * 100
    stored = manage(env, "shell", "-c", READ_STORED_PHOTO)
    assert stored.returncode == 0 and stored.stdout.strip().splitlines()[-1] == "True", stored.stderr
    smoke = manage(env, "shell", "-c", SMOKE_REQUEST)
    assert smoke.returncode == 0, smoke.stderr
    assert json.loads(smoke.stdout.strip().splitlines()[-1]) == {
        "logged_in": True, "status": 200, "has_student": True, "ready": 200,
    }

    # A damaged backup is refused before anything is touched.
    _sql("DELETE FROM accounts_auditevent WHERE target = 'student3'")
    changed = snapshot()
    with dump.open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00" * 16)
    damaged = manage(env, "restore", str(dump), "--yes-i-am-sure")
    assert damaged.returncode != 0
    assert "does not match its checksum" in damaged.stderr
    assert snapshot() == changed != before
