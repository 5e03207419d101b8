"""Backups and restore: database (pg_dump custom format, or SQLite's online backup API)
plus a tar.gz of the media, a SHA-256 checksum file, verification, and retention.

A backup set is `campus-<UTC stamp>.pgdump|.sqlite3`, `campus-<stamp>.media.tar.gz`
and `campus-<stamp>.sha256`. Every file is written under a hidden temporary
name, verified, and renamed; the checksum file is renamed last, so a set is
complete exactly when its checksum file exists. `manage.py backup`, `restore`
and `config.tasks.nightly_backup` all call this module.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection, connections
from django.utils import timezone

from .storage import DatabaseStorage, stored_names

logger = logging.getLogger("campus.backup")

PREFIX = "campus-"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
DATABASE_SUFFIXES = (".pgdump", ".sqlite3")
MEDIA_SUFFIX = ".media.tar.gz"
CHECKSUM_SUFFIX = ".sha256"
_SET_FILE = re.compile(r"^campus-(\d{8}T\d{6}Z)(\.pgdump|\.sqlite3|\.media\.tar\.gz|\.sha256)$")
LAST_RUN_CACHE_KEY = "backup:last_run"
# Leftovers of a crashed run (temporary or unfinished files) older than this are removed.
STALE_AFTER = timedelta(days=1)


class BackupError(Exception):
    """A backup or restore could not be done; the message says why, for an operator."""


@dataclass(frozen=True)
class BackupSet:
    stamp: datetime
    database: Path
    media: Path | None
    checksum: Path

    @property
    def files(self) -> list[Path]:
        return [path for path in (self.database, self.media, self.checksum) if path is not None]

    @property
    def size_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files)


# --- Listing and retention ---------------------------------------------------------
def _parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=UTC)


def list_backups(directory: Path | str | None = None) -> list[BackupSet]:
    """Complete backup sets in `directory`, newest first."""
    directory = Path(directory or settings.BACKUP_DIR)
    if not directory.is_dir():
        return []
    by_stamp: dict[str, dict[str, Path]] = {}
    for path in directory.iterdir():
        match = _SET_FILE.match(path.name)
        if match:
            by_stamp.setdefault(match.group(1), {})[match.group(2)] = path
    sets = []
    for stamp, files in by_stamp.items():
        database = files.get(".pgdump") or files.get(".sqlite3")
        if CHECKSUM_SUFFIX in files and database is not None:
            sets.append(BackupSet(_parse_stamp(stamp), database, files.get(MEDIA_SUFFIX), files[CHECKSUM_SUFFIX]))
    return sorted(sets, key=lambda s: s.stamp, reverse=True)


def sets_to_keep(stamps: list[datetime], *, keep_daily: int, keep_weekly: int) -> set[datetime]:
    """The newest backup of each of the last `keep_daily` days that have one, and of the
    last `keep_weekly` ISO weeks; the newest backup is always kept."""
    ordered = sorted(stamps, reverse=True)
    keep: set[datetime] = set(ordered[:1])
    days: list[Any] = []
    weeks: list[Any] = []
    for stamp in ordered:
        day, week = stamp.date(), stamp.isocalendar()[:2]
        if day not in days and len(days) < keep_daily:
            days.append(day)
            keep.add(stamp)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.append(week)
            keep.add(stamp)
    return keep


def apply_retention(
    directory: Path | str | None = None, *, now: datetime | None = None,
    keep_daily: int | None = None, keep_weekly: int | None = None,
) -> list[Path]:
    """Deletes the sets retention does not keep, and stale leftovers of crashed runs; returns what it removed."""
    directory = Path(directory or settings.BACKUP_DIR)
    now = now or timezone.now()
    keep_daily = settings.BACKUP_KEEP_DAILY if keep_daily is None else keep_daily
    keep_weekly = settings.BACKUP_KEEP_WEEKLY if keep_weekly is None else keep_weekly
    sets = list_backups(directory)
    keep = sets_to_keep([s.stamp for s in sets], keep_daily=keep_daily, keep_weekly=keep_weekly)
    removed: list[Path] = []
    for backup in sets:
        if backup.stamp not in keep:
            for path in backup.files:
                path.unlink(missing_ok=True)
                removed.append(path)
    complete = {path for backup in sets for path in backup.files}
    for path in directory.iterdir() if directory.is_dir() else ():
        leftover = path.name.startswith(".tmp-" + PREFIX) or (_SET_FILE.match(path.name) and path not in complete)
        if leftover and path.is_file() and now.timestamp() - path.stat().st_mtime > STALE_AFTER.total_seconds():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# --- Writing --------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_writable(directory: Path) -> None:
    """Creates the folder owner-only (0700): backups hold password hashes and face images."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".tmp-probe-"):
            pass
    except OSError as exc:
        raise BackupError(f"Backup directory {directory} is not writable: {exc.strerror or exc}") from exc


def _pg_params() -> dict[str, str]:
    db = connection.settings_dict
    return {
        "host": db.get("HOST") or "",
        "port": str(db.get("PORT") or ""),
        "user": db.get("USER") or "",
        "password": db.get("PASSWORD") or "",
        "dbname": db["NAME"],
    }


def _pg_tool(name: str) -> str:
    found = shutil.which(name, path=settings.PG_BIN_DIR or None)
    if not found:
        raise BackupError(
            f"{name} was not found{' in ' + settings.PG_BIN_DIR if settings.PG_BIN_DIR else ' on PATH'}; "
            "install the PostgreSQL client matching the server (apt-get install postgresql-client) or set PG_BIN_DIR."
        )
    return found


def _pg_env(params: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    if params["password"]:
        env["PGPASSWORD"] = params["password"]
    return env


def _pg_args(params: dict[str, str]) -> list[str]:
    args = []
    if params["host"]:
        args += ["--host", params["host"]]
    if params["port"]:
        args += ["--port", params["port"]]
    if params["user"]:
        args += ["--username", params["user"]]
    return [*args, "--no-password", "--dbname", params["dbname"]]


def _tool_major(tool: str) -> int:
    output = subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\)\s*(\d+)", output)
    if not match:
        raise BackupError(f"Could not read the version of {tool}: {output.strip()!r}")
    return int(match.group(1))


def postgres_server_major(params: dict[str, str] | None = None) -> int:
    """Connects on its own (short timeout) so an unreachable database gives one clear error."""
    import psycopg

    params = params or _pg_params()
    try:
        with psycopg.connect(
            host=params["host"] or None, port=params["port"] or None, user=params["user"] or None,
            password=params["password"] or None, dbname=params["dbname"], connect_timeout=5,
        ) as conn:
            return conn.info.server_version // 10000
    except psycopg.Error as exc:
        where = f"{params['host'] or 'local socket'}:{params['port'] or 5432}/{params['dbname']}"
        raise BackupError(f"Cannot reach the database at {where}: {str(exc).strip().splitlines()[0]}") from exc


def check_pg_tools(params: dict[str, str] | None = None) -> tuple[str, str]:
    """pg_dump and pg_restore paths, after checking they can read this server's dumps."""
    dump, restore = _pg_tool("pg_dump"), _pg_tool("pg_restore")
    server, client = postgres_server_major(params), _tool_major(dump)
    if client < server:
        raise BackupError(
            f"pg_dump {client} cannot dump a PostgreSQL {server} server; install postgresql-client-{server} "
            "or point PG_BIN_DIR at its bin directory."
        )
    return dump, restore


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{what} failed (exit {result.returncode}): {' | '.join(detail[-3:]) or 'no output'}")
    return result.stdout


def _dump_postgres(target: Path) -> dict[str, Any]:
    params = _pg_params()
    dump, restore = check_pg_tools(params)
    env = _pg_env(params)
    _run([dump, "--format=custom", "--no-owner", "--no-privileges", "--file", str(target), *_pg_args(params)],
         env, "pg_dump")
    toc = _run([restore, "--list", str(target)], env, "pg_restore --list (verification)")
    entries = [line for line in toc.splitlines() if line and not line.startswith(";")]
    if not any(" TABLE DATA " in line for line in entries):
        raise BackupError(f"Verification failed: the dump {target.name} lists no table data.")
    return {"toc_entries": len(entries)}


def _dump_sqlite(target: Path) -> dict[str, Any]:
    source = sqlite3.connect(connection.settings_dict["NAME"])
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # the online backup API: consistent while others write
            result = copy.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            copy.close()
    finally:
        source.close()
    if result != "ok":
        raise BackupError(f"Verification failed: SQLite integrity_check says {result!r}.")
    return {"integrity_check": result}


def _remote_storage() -> bool:
    """True when the files live in an object store (S3): neither the dump nor MEDIA_ROOT holds them.
    DatabaseStorage's files are rows in the dump; FileSystemStorage's are MEDIA_ROOT."""
    return not isinstance(storages["default"], DatabaseStorage | FileSystemStorage)


def _archive_media(target: Path) -> dict[str, Any]:
    media_root = Path(settings.MEDIA_ROOT)
    with tarfile.open(target, "w:gz") as archive:
        if media_root.is_dir():
            archive.add(media_root, arcname="media")
        else:
            info = tarfile.TarInfo("media")
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
        if _remote_storage():
            # The bucket's files, read through the storage API, under the names the rows give.
            storage = storages["default"]
            for name in stored_names(storage=storage):
                with storage.open(name, "rb") as handle:
                    data = handle.read()
                info = tarfile.TarInfo(f"media/{name}")
                info.size, info.mtime = len(data), int(storage.get_modified_time(name).timestamp())
                archive.addfile(info, io.BytesIO(data))
    with tarfile.open(target, "r:gz") as archive:  # verification: the archive reads back whole
        files = sum(1 for member in archive if member.isfile())
    return {"media_files": files}


def create_backup(
    *, directory: Path | str | None = None, now: datetime | None = None, include_media: bool | None = None,
) -> BackupSet:
    """Writes and verifies one backup set; nothing is left half-written when it fails."""
    directory = Path(directory or settings.BACKUP_DIR)
    include_media = settings.BACKUP_INCLUDE_MEDIA if include_media is None else include_media
    ensure_writable(directory)
    stamp = (now or timezone.now()).astimezone(UTC).replace(microsecond=0)
    base = PREFIX + stamp.strftime(STAMP_FORMAT)
    vendor = connection.vendor
    if vendor == "postgresql":
        database_name, dump = base + ".pgdump", _dump_postgres
    elif vendor == "sqlite":
        database_name, dump = base + ".sqlite3", _dump_sqlite
    else:
        raise BackupError(f"Backups of {vendor} databases are not supported.")
    if (directory / (base + CHECKSUM_SUFFIX)).exists():
        raise BackupError(f"A backup named {base} already exists.")

    names = [database_name] + ([base + MEDIA_SUFFIX] if include_media else [])
    temps = {name: directory / f".tmp-{name}" for name in names}
    finals = {name: directory / name for name in names}
    checksum_tmp, checksum_final = directory / f".tmp-{base}{CHECKSUM_SUFFIX}", directory / (base + CHECKSUM_SUFFIX)
    renamed: list[Path] = []
    try:
        dump(temps[database_name])
        if include_media:
            _archive_media(temps[base + MEDIA_SUFFIX])
        checksum_tmp.write_text("".join(f"{_sha256(temps[name])}  {name}\n" for name in names))
        for path in [*temps.values(), checksum_tmp]:
            path.chmod(0o600)  # owner-only, whatever the umask
        for name in names:
            os.replace(temps[name], finals[name])
            renamed.append(finals[name])
        os.replace(checksum_tmp, checksum_final)  # last: the set is complete from here on
    except BaseException:
        for path in [*temps.values(), checksum_tmp, *renamed]:
            path.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return BackupSet(stamp, finals[database_name], finals.get(base + MEDIA_SUFFIX), checksum_final)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- The one entry point for the command and the nightly task -------------------------
def run_backup(*, directory: Path | str | None = None, trigger: str = "command") -> tuple[BackupSet, list[Path]]:
    """Backup, then retention; records the outcome for /health/full and /metrics.
    Raises BackupError (after logging it) when the backup fails."""
    started = time.monotonic()
    try:
        backup = create_backup(directory=directory)
        removed = apply_retention(directory)
    except Exception as exc:
        message = str(exc) if isinstance(exc, BackupError) else f"{type(exc).__name__}: {exc}"
        unexpected = not isinstance(exc, BackupError)
        logger.error("backup failed", extra={"error": message, "trigger": trigger}, exc_info=unexpected)
        _record_run({"status": "failed", "at": time.time(), "error": message, "trigger": trigger})
        if isinstance(exc, BackupError):
            raise
        raise BackupError(message) from exc
    size = backup.size_bytes
    _record_run({
        "status": "ok", "at": time.time(), "file": backup.database.name, "size_bytes": size,
        "duration_seconds": round(time.monotonic() - started, 2), "trigger": trigger,
    })
    logger.info(
        "backup written",
        extra={"file": str(backup.database), "size_bytes": size, "removed": len(removed), "trigger": trigger},
    )
    return backup, removed


def _record_run(record: dict[str, Any]) -> None:
    try:
        cache.set(LAST_RUN_CACHE_KEY, record, None)
    except Exception:
        logger.warning("could not record the backup outcome in the cache", exc_info=True)


# --- Restore --------------------------------------------------------------------
def verify_checksums(database_file: Path) -> BackupSet:
    """Finds the set `database_file` belongs to and checks every file against its checksum file."""
    database_file = Path(database_file)
    match = _SET_FILE.match(database_file.name)
    if not database_file.is_file():
        raise BackupError(f"{database_file} does not exist.")
    if not match or match.group(2) not in DATABASE_SUFFIXES:
        raise BackupError(f"{database_file.name} is not a database backup (campus-<stamp>.pgdump or .sqlite3).")
    base = PREFIX + match.group(1)
    checksum = database_file.with_name(base + CHECKSUM_SUFFIX)
    if not checksum.is_file():
        raise BackupError(f"No checksum file {checksum.name} beside the backup; refusing an unverified restore.")
    media = None
    for line in checksum.read_text().splitlines():
        expected, name = line.split(None, 1)
        path = database_file.with_name(name.strip())
        if not path.is_file():
            raise BackupError(f"{path.name}, listed in {checksum.name}, is missing.")
        if _sha256(path) != expected:
            raise BackupError(f"{path.name} does not match its checksum; the backup is damaged.")
        if path.name.endswith(MEDIA_SUFFIX):
            media = path
    return BackupSet(_parse_stamp(match.group(1)), database_file, media, checksum)


def restore_backup(database_file: Path | str, *, include_media: bool = True) -> dict[str, Any]:
    """Restores a verified backup set into the configured database (and MEDIA_ROOT)."""
    backup = verify_checksums(Path(database_file))
    vendor = connection.vendor
    connections.close_all()
    if backup.database.suffix == ".pgdump":
        if vendor != "postgresql":
            raise BackupError(f"{backup.database.name} is a PostgreSQL dump but the database is {vendor}.")
        params = _pg_params()
        _, restore = check_pg_tools(params)
        _run(
            [restore, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
             "--exit-on-error", *_pg_args(params), str(backup.database)],
            _pg_env(params), "pg_restore",
        )
    else:
        if vendor != "sqlite":
            raise BackupError(f"{backup.database.name} is a SQLite file but the database is {vendor}.")
        source = sqlite3.connect(backup.database)
        try:
            target = sqlite3.connect(connection.settings_dict["NAME"])
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
    result: dict[str, Any] = {"database": str(backup.database), "media": None}
    if include_media and backup.media is not None:
        result["media"], result["previous_media"] = _restore_media(backup.media)
    logger.warning("backup restored", extra={"file": str(backup.database)})
    return result


def _restore_media(archive_path: Path) -> tuple[str, str | None]:
    if _remote_storage():
        return _restore_remote_media(archive_path), None
    media_root = Path(settings.MEDIA_ROOT)
    media_root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-media-", dir=media_root.parent))
    with tarfile.open(archive_path, "r:gz") as archive:
        archive.extractall(staging, filter="data")  # refuses absolute paths and ../ escapes
    previous = None
    if media_root.exists():
        previous = media_root.with_name(f"{media_root.name}.before-restore-{int(time.time())}")
        os.replace(media_root, previous)  # kept, not deleted: the operator decides
    os.replace(staging / "media", media_root)
    shutil.rmtree(staging, ignore_errors=True)
    return str(media_root), str(previous) if previous else None


def _restore_remote_media(archive_path: Path) -> str:
    """Puts every file of the archive back into the object store under its own name."""
    storage = storages["default"]
    with tarfile.open(archive_path, "r:gz") as archive:
        for member in archive:
            if not member.isfile() or not member.name.startswith("media/"):
                continue
            name = member.name.removeprefix("media/")
            if name.startswith("/") or ".." in name.split("/"):
                raise BackupError(f"The media archive holds an unsafe name: {member.name!r}.")
            storage.delete(name)  # the storage never overwrites: the name must be free
            saved = storage.save(name, ContentFile(archive.extractfile(member).read()))
            if saved != name:
                raise BackupError(f"{name} came back as {saved}; the rows would not find it.")
    return f"storage {type(storage).__name__}"


# --- Health and metrics -------------------------------------------------------------
def backup_state() -> dict[str, Any]:
    """What /health/full, /metrics and `doctor` say about backups."""
    latest = next(iter(list_backups()), None)
    try:
        last_run = cache.get(LAST_RUN_CACHE_KEY)
    except Exception:
        last_run = None
    state: dict[str, Any] = {"directory": str(settings.BACKUP_DIR), "last_run": last_run, "last_success": None}
    if latest is not None:
        state["last_success"] = {
            "file": latest.database.name,
            "at": latest.stamp.isoformat(),
            "timestamp": latest.stamp.timestamp(),
            "size_bytes": latest.size_bytes,
            "age_hours": round((timezone.now() - latest.stamp).total_seconds() / 3600, 2),
        }
    return state


def describe_backups() -> dict[str, Any]:
    """The `backups` component of /health/full."""
    state = backup_state()
    problems = []
    last_run, success = state["last_run"], state["last_success"]
    if last_run and last_run.get("status") == "failed":
        problems.append(f"the last backup failed: {last_run.get('error')}")
    if success is None:
        if settings.BACKUP_REQUIRED:
            problems.append(f"no backup in {state['directory']}")
        else:
            state["note"] = "no backup yet (BACKUP_REQUIRED is off)"
    elif success["age_hours"] > settings.BACKUP_MAX_AGE_HOURS:
        limit = settings.BACKUP_MAX_AGE_HOURS
        problems.append(f"the newest backup is {success['age_hours']} hours old (limit {limit})")
    state["ok"] = not problems
    if problems:
        state["error"] = "; ".join(problems)
    return state


class BackupCollector:
    """Prometheus gauges read at scrape time, so the web process reports what the worker wrote."""

    def describe(self):
        return list(self._families({}))

    def collect(self):
        try:
            state = backup_state()
        except Exception:
            logger.warning("backup metrics unavailable", exc_info=True)
            state = {}
        return list(self._families(state))

    @staticmethod
    def _families(state: dict[str, Any]):
        from prometheus_client.core import GaugeMetricFamily

        success = state.get("last_success") or {}
        last_run = state.get("last_run") or {}
        yield GaugeMetricFamily(
            "campus_backup_last_success_timestamp_seconds", "When the newest complete backup was made (0: none).",
            value=success.get("timestamp", 0),
        )
        yield GaugeMetricFamily(
            "campus_backup_last_size_bytes", "Size of the newest complete backup set.",
            value=success.get("size_bytes", 0),
        )
        yield GaugeMetricFamily(
            "campus_backup_last_run_failed", "1 when the most recent backup attempt failed.",
            value=1 if last_run.get("status") == "failed" else 0,
        )


_registered = False


def register_backup_metrics() -> None:
    global _registered
    if _registered:
        return
    from prometheus_client import REGISTRY

    REGISTRY.register(BackupCollector())
    _registered = True
