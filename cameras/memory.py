"""Per-process memory that decides outcomes in the frame pipeline, in one shape.

Each memory is a `cachetools.LRUCache` behind a lock whose entries carry the time
they were stored: an entry older than the TTL (seconds, or the name of a setting,
read at each lookup so a changed setting applies at once) is never served, the size
is bounded with least-recently-used eviction, and keys are
tuples that name everything the value depends on (camera, session, gallery
version), so a value can never be served for another class or another gallery.
`forget_all()` empties every memory of the process (tests, benchmarks).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import LRUCache
from django.conf import settings

V = TypeVar("V")

_all: weakref.WeakSet[ProcessMemory] = weakref.WeakSet()


class ProcessMemory(Generic[V]):
    """A bounded, expiring, thread-safe map; `ttl` is a number of seconds or the name of a setting."""


    def __init__(self, name: str, *, maxsize: int, ttl: float | str, timer: Callable[[], float] = time.monotonic):
        self.name = name
        self._ttl = ttl
        self._timer = timer
        self._lock = threading.Lock()
        self._entries: LRUCache[Hashable, tuple[V, float]] = LRUCache(maxsize=maxsize)
        _all.add(self)

    def ttl(self) -> float:
        return float(getattr(settings, self._ttl) if isinstance(self._ttl, str) else self._ttl)

    def get(self, key: Hashable) -> V | None:
        """The value stored under `key` less than the TTL ago, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, stored_at = entry
            if self._timer() - stored_at >= self.ttl():
                del self._entries[key]
                return None
            return value

    def set(self, key: Hashable, value: V) -> V:
        with self._lock:
            self._entries[key] = (value, self._timer())
        return value

    def get_or_set(self, key: Hashable, build: Callable[[], V]) -> V:
        """The remembered value, or `build()` remembered; `build` runs outside the lock."""
        found = self.get(key)
        if found is not None:
            return found
        return self.set(key, build())

    def pop(self, key: Hashable) -> V | None:
        with self._lock:
            entry = self._entries.pop(key, None)
        return None if entry is None else entry[0]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def forget_all() -> None:
    """Empty every per-process memory (tests, benchmarks; a worker never needs it)."""
    for memory in list(_all):
        memory.clear()
