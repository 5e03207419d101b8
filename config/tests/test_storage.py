"""The file storage web and workers share: the database (default) and S3 (moto's real HTTP server)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from config import storage as db_storage
from config.models import StoredFile, StoredFileChunk
from config.storage import DatabaseStorage, stored_names

from .fault_tools import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY, s3_server

BASE_DIR = Path(__file__).resolve().parents[2]
BUCKET = "campus-test"


@pytest.fixture
def s3_options():
    """The S3Storage options settings build for STORAGE_BACKEND=s3, on moto's server over loopback."""
    with s3_server(BUCKET) as endpoint:
        yield {"bucket_name": BUCKET, "endpoint_url": endpoint, "region_name": S3_REGION, "access_key": S3_ACCESS_KEY,
               "secret_key": S3_SECRET_KEY, "default_acl": None, "querystring_auth": True, "file_overwrite": False,
               "addressing_style": "path"}


@pytest.fixture
def s3_storage(s3_options):
    from storages.backends.s3 import S3Storage

    return S3Storage(**s3_options)


@pytest.mark.django_db
def test_a_saved_file_reads_back_whole_across_chunks(monkeypatch):
    monkeypatch.setattr(db_storage, "CHUNK_BYTES", 1000)
    data = bytes(range(256)) * 20  # 5120 bytes: six chunks
    storage = DatabaseStorage()
    name = storage.save("frames/2026/12/03/a.jpg", ContentFile(data))
    with storage.open(name) as handle:
        assert handle.read() == data
    assert storage.size(name) == len(data)
    assert StoredFileChunk.objects.filter(file__name=name).count() == 6


@pytest.mark.django_db
def test_the_same_name_twice_keeps_both_files():
    storage = DatabaseStorage()
    first = storage.save("faces/unknown/1.jpg", ContentFile(b"first"))
    second = storage.save("faces/unknown/1.jpg", ContentFile(b"second"))
    assert first == "faces/unknown/1.jpg" and second != first and second.startswith("faces/unknown/1_")
    assert storage.open(first).read() == b"first" and storage.open(second).read() == b"second"


@pytest.mark.django_db
def test_delete_removes_the_row_and_its_chunks():
    storage = DatabaseStorage()
    name = storage.save("faces/enrolments/p.jpg", ContentFile(b"photo"))
    storage.delete(name)
    assert not storage.exists(name)
    assert not StoredFile.objects.exists() and not StoredFileChunk.objects.exists()
    storage.delete(name)  # deleting what is gone is no error, as on disk


@pytest.mark.django_db
def test_a_missing_file_is_file_not_found():
    # The pipeline fails such a frame as missing_image instead of retrying it.
    with pytest.raises(FileNotFoundError):
        DatabaseStorage().open("frames/gone.jpg")


@pytest.mark.django_db(transaction=True)
def test_a_file_saved_in_a_rolled_back_transaction_leaves_nothing():
    storage = DatabaseStorage()
    with pytest.raises(RuntimeError), transaction.atomic():
        storage.save("faces/unknown/crop.jpg", ContentFile(b"crop"))
        raise RuntimeError("the sighting's transaction failed")
    assert not storage.exists("faces/unknown/crop.jpg")


@pytest.mark.django_db
def test_listdir_and_stored_names_walk_folders():
    storage = DatabaseStorage()
    for name in ("frames/2026/12/03/a.jpg", "frames/2026/12/04/b.jpg", "frames/c.jpg", "faces/unknown/d.jpg"):
        storage.save(name, ContentFile(b"x"))
    assert storage.listdir("frames") == (["2026"], ["c.jpg"])
    assert storage.listdir("") == (["faces", "frames"], [])
    assert stored_names("frames", storage) == ["frames/2026/12/03/a.jpg", "frames/2026/12/04/b.jpg", "frames/c.jpg"]


@pytest.mark.django_db
def test_times_are_those_of_the_save():
    storage = DatabaseStorage()
    before = timezone.now()
    name = storage.save("frames/t.jpg", ContentFile(b"x"))
    assert before <= storage.get_modified_time(name) <= timezone.now()
    assert storage.get_created_time(name) == storage.get_modified_time(name)


def test_the_default_storage_is_the_database():
    from django.core.files.storage import storages

    assert isinstance(storages["default"], DatabaseStorage)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STORAGE_BACKEND": "s3"}, "needs AWS_STORAGE_BUCKET_NAME"),
        ({"STORAGE_BACKEND": "nfs"}, "STORAGE_BACKEND must be database, s3 or filesystem"),
    ],
)
def test_a_storage_setting_that_cannot_work_refuses_to_start(env, message):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=BASE_DIR, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings", **env}, timeout=120,
    )
    assert result.returncode != 0 and message in result.stderr


def test_s3_settings_build_the_s3_storage():
    show = ("import django; django.setup(); from django.core.files.storage import storages; s = storages['default'];"
            " print(type(s).__module__, s.bucket_name, s.endpoint_url, s.default_acl, s.file_overwrite)")
    result = subprocess.run(
        [sys.executable, "-c", show], cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings",
             "STORAGE_BACKEND": "s3", "AWS_STORAGE_BUCKET_NAME": "campus", "AWS_S3_ENDPOINT_URL": "http://minio:9000"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["storages.backends.s3", "campus", "http://minio:9000", "None", "False"]


# --- S3, against a real S3-compatible HTTP server ---------------------------------


def test_s3_save_open_list_delete(s3_storage):
    name = s3_storage.save("frames/2026/12/03/a.jpg", ContentFile(b"frame bytes"))
    s3_storage.save("frames/2026/12/04/b.jpg", ContentFile(b"other"))
    with s3_storage.open(name, "rb") as handle:
        assert handle.read() == b"frame bytes"
    assert s3_storage.size(name) == len(b"frame bytes")
    assert stored_names("frames", s3_storage) == ["frames/2026/12/03/a.jpg", "frames/2026/12/04/b.jpg"]
    assert abs(s3_storage.get_modified_time(name) - timezone.now()) < dt.timedelta(minutes=5)
    s3_storage.delete(name)
    assert not s3_storage.exists(name)
    assert stored_names("frames", s3_storage) == ["frames/2026/12/04/b.jpg"]


def test_s3_never_overwrites_a_file_of_the_same_name(s3_storage):
    first = s3_storage.save("faces/unknown/1.jpg", ContentFile(b"first"))
    second = s3_storage.save("faces/unknown/1.jpg", ContentFile(b"second"))
    assert second != first
    assert s3_storage.open(first).read() == b"first"


def test_s3_missing_file_is_file_not_found(s3_storage):
    # What the pipeline catches to fail a frame whose bytes are gone (not an endless retry).
    with pytest.raises(FileNotFoundError):
        s3_storage.open("frames/gone.jpg").read()


def test_a_backup_holds_the_s3_files_and_restore_puts_them_back(s3_options, tmp_path, settings, monkeypatch):
    from django.core.files.storage import storages

    from config import backups

    from .test_backup import _SqliteConnection

    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_options}}
    settings.BACKUP_DIR, settings.MEDIA_ROOT = tmp_path / "backups", tmp_path / "media"
    live = tmp_path / "campus.sqlite3"
    sqlite3.connect(live).close()
    monkeypatch.setattr(backups, "connection", _SqliteConnection(live))
    monkeypatch.setattr(backups.connections, "close_all", lambda: None)
    storage = storages["default"]
    photo = storage.save("faces/enrolments/2026/12/p.jpg", ContentFile(b"enrolment photo"))

    backup = backups.create_backup()
    with tarfile.open(backup.media) as archive:
        assert archive.extractfile(f"media/{photo}").read() == b"enrolment photo"
    storage.delete(photo)
    storage.save("faces/unknown/new.jpg", ContentFile(b"since the backup"))

    backups.restore_backup(backup.database)

    assert storage.open(photo).read() == b"enrolment photo"  # under the name its row gives
