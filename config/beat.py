"""Exactly one celery beat: the scheduler refuses to start unless it holds the beat lock.

Two beats would send every periodic task twice (two nightly backups, two
purges). The lock is a Redis key set with NX and a TTL; the running beat
renews it on every tick (at most every few seconds) and writes a heartbeat
that `manage.py doctor` reads. If the beat dies, the key expires after
`BEAT_LOCK_TTL_SECONDS` and a replacement may start. Without Redis (the
embedded development setup) an exclusive file lock in VAR_DIR does the same
on the one machine.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger("campus.beat")

_RENEW_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def _uses_redis() -> bool:
    return settings.CACHES["default"]["BACKEND"].startswith("django_redis")


def _redis_key(name: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or ""
    return f"{prefix}:{name}" if prefix else name


def _heartbeat_path() -> Path:
    return Path(settings.VAR_DIR) / "beat.heartbeat.json"


class BeatLock:
    """The lock one beat holds for its whole life (see the module docstring)."""

    def __init__(self, *, key: str | None = None, ttl: int | None = None) -> None:
        self.key = key or settings.BEAT_LOCK_KEY
        self.ttl = ttl or settings.BEAT_LOCK_TTL_SECONDS
        self.holder: str | None = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._file = None

    # --- Redis -------------------------------------------------------------
    def _redis(self):
        from django_redis import get_redis_connection

        return get_redis_connection("default")

    def acquire(self) -> bool:
        if not _uses_redis():
            return self._acquire_file()
        acquired = bool(self._redis().set(_redis_key(self.key), self.holder, nx=True, ex=self.ttl))
        if acquired:
            self.beat()
        return acquired

    def renew(self) -> bool:
        """Extends the lock if we still hold it and records a heartbeat; False when lost."""
        if not _uses_redis():
            held = self._file is not None
        else:
            held = bool(self._redis().eval(_RENEW_IF_OWNER, 1, _redis_key(self.key), self.holder, self.ttl))
        if held:
            self.beat()
        return held

    def release(self) -> None:
        if not _uses_redis():
            if self._file is not None:
                self._file.close()  # closing the descriptor drops the flock
                self._file = None
            return
        self._redis().eval(_RELEASE_IF_OWNER, 1, _redis_key(self.key), self.holder)

    def current_holder(self) -> str | None:
        if not _uses_redis():
            path = self._lock_path()
            return path.read_text().strip() or None if path.exists() else None
        value = self._redis().get(_redis_key(self.key))
        return value.decode() if value else None

    def beat(self) -> None:
        record = json.dumps({"holder": self.holder, "at": time.time()})
        if _uses_redis():
            self._redis().set(_redis_key(self.key + ":heartbeat"), record, ex=7 * 24 * 3600)
        else:
            _heartbeat_path().write_text(record)

    # --- File (no Redis) ---------------------------------------------------
    def _lock_path(self) -> Path:
        return Path(settings.VAR_DIR) / (self.key.replace(":", "-") + ".lock")

    def _acquire_file(self) -> bool:
        self._lock_path().parent.mkdir(parents=True, exist_ok=True)
        handle = open(self._lock_path(), "a+")  # noqa: SIM115 - held open for the beat's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(self.holder)
        handle.flush()
        self._file = handle
        self.beat()
        return True


def last_heartbeat(key: str | None = None) -> dict[str, Any] | None:
    """The running beat's last heartbeat: {"holder", "at" (epoch seconds), "age_seconds"}, or None."""
    key = key or settings.BEAT_LOCK_KEY
    if _uses_redis():
        from django_redis import get_redis_connection

        raw = get_redis_connection("default").get(_redis_key(key + ":heartbeat"))
    else:
        path = _heartbeat_path()
        raw = path.read_bytes() if path.exists() else None
    if not raw:
        return None
    record = json.loads(raw)
    record["age_seconds"] = round(time.time() - record["at"], 1)
    return record


class LockedDatabaseScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler that runs only while it holds the beat lock."""

    def __init__(self, *args, **kwargs):
        self.beat_lock = BeatLock()
        if kwargs.get("lazy"):
            # The banner builds a lazy scheduler only to describe it; it never ticks.
            self.beat_lock.holder = None
            super().__init__(*args, **kwargs)
            return
        if not self.beat_lock.acquire():
            message = (
                f"Refusing to start celery beat: another beat holds the lock {self.beat_lock.key!r} "
                f"({self.beat_lock.current_holder() or 'holder unknown'}). Exactly one beat may run; "
                f"stop the other one, or wait {self.beat_lock.ttl}s if it died without releasing it."
            )
            logger.critical(message)
            raise SystemExit(message)
        logger.info("beat lock acquired", extra={"holder": self.beat_lock.holder})
        super().__init__(*args, **kwargs)
        # Renew well inside the TTL: the scheduler never sleeps longer than this.
        self.max_interval = min(self.max_interval, max(1, self.beat_lock.ttl // 3))

    def tick(self, *args, **kwargs):
        if self.beat_lock.holder is None:
            raise SystemExit("a lazy scheduler cannot tick")
        try:
            held = self.beat_lock.renew()
        except Exception:
            logger.exception("beat could not renew its lock")
            held = False
        if not held:
            message = "celery beat lost its lock; stopping so that two beats never run at once."
            logger.critical(message)
            raise SystemExit(message)
        return super().tick(*args, **kwargs)

    def close(self):
        try:
            super().close()
        finally:
            try:
                if self.beat_lock.holder is not None:
                    self.beat_lock.release()
            except Exception:
                logger.exception("beat could not release its lock; it expires on its own")
