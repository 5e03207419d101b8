"""Section reports and a student's own report kept in the shared cache, under the sections' data versions.

A section report aggregates every record of the section over a range (67,000
rows for a 2,500-student section over a term), yet it only changes when the
section's attendance does. So the finished report is cached under a key that
carries the section's data version; every attendance service that writes a
record or changes a session bumps that version on commit (the same places that
drop the dashboard summary), and the next request recomputes. A version is a
random token, not a counter: a version key lost from the cache (evicted,
flushed) comes back as a new token, so an old report can never be read again.
`ATTENDANCE_REPORT_CACHE_SECONDS` bounds what no service announces (a student
renamed, a record deleted in the admin); 0 turns the cache off.

A student's own report (`GET /attendance/me`) spans their sections: it is cached
under the versions of every section they were ever enrolled in (a record is only
ever written for an enrolled student), so a change in any of them, or a new
enrolment, is a new key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache

from config.outages import CACHE_OR_BROKER_DOWN as CACHE_ERRORS
from config.renderers import FastJSONRenderer

logger = logging.getLogger("campus.attendance")

VERSION_KEY = "attendance:report-version:section:{}"
REPORT_KEY = "attendance:report:section:{}:{}:{}:{}"
# viewer, student, a digest of their sections' versions, from, to
OWN_REPORT_KEY = "attendance:report:student:{}:{}:{}:{}:{}"
# A version outlives any report cached under it.
VERSION_SECONDS = 7 * 24 * 3600


def _versions(section_ids: list[int]) -> list[str]:
    """The sections' data versions, one round trip when they are all known; a missing one is made."""
    keys = [VERSION_KEY.format(section_id) for section_id in section_ids]
    found = cache.get_many(keys)
    missing = [key for key in keys if key not in found]
    if missing:
        for key in missing:  # add, not set: a version another process made first is kept
            cache.add(key, uuid.uuid4().hex, VERSION_SECONDS)
        found.update(cache.get_many(missing))
    return [str(found.get(key)) for key in keys]


def section_changed(section_id: int) -> None:
    """The section's attendance changed: its cached reports are not read again."""
    try:
        cache.set(VERSION_KEY.format(section_id), uuid.uuid4().hex, VERSION_SECONDS)
    except CACHE_ERRORS:  # Redis down: the reports expire on their own (ATTENDANCE_REPORT_CACHE_SECONDS)
        logger.warning("could not move the section report version", exc_info=True, extra={"section": section_id})


def cached_section_report(
    section_id: int, date_from: dt.date | None, date_to: dt.date | None, build: Callable[[], dict[str, Any]]
) -> bytes:
    """The report `build()` makes, as the API's JSON, from the cache while the section's data
    version holds. Kept encoded: unpickling and encoding a report of a few hundred students each
    time cost more than the rest of the request."""
    return _cached(lambda: REPORT_KEY.format(section_id, *_versions([section_id]), date_from or "", date_to or ""),
                   build)


def cached_own_report(
    *, viewer_id: int, student_id: int, section_ids: list[int], date_from: dt.date | None,
    date_to: dt.date | None, build: Callable[[], dict[str, Any]],
) -> bytes:
    """A student's own report as `build()` makes it, from the cache while none of `section_ids`
    (every section the student was enrolled in) has changed."""
    def key() -> str:
        ids = sorted(set(section_ids))
        versions = ",".join(f"{section_id}={version}" for section_id, version in zip(ids, _versions(ids), strict=True))
        digest = hashlib.blake2b(versions.encode(), digest_size=16).hexdigest()
        return OWN_REPORT_KEY.format(viewer_id, student_id, digest, date_from or "", date_to or "")

    return _cached(key, build)


def _cached(key: Callable[[], str], build: Callable[[], dict[str, Any]]) -> bytes:
    """`build()` encoded, read from / written to the cache under `key()`; computed whenever the
    cache is off or down."""
    seconds = settings.ATTENDANCE_REPORT_CACHE_SECONDS
    if seconds <= 0:
        return encode(build())
    try:
        cache_key = key()
        report = cache.get(cache_key)
    except CACHE_ERRORS:  # Redis down: the report is computed, as without a cache
        logger.warning("report cache unavailable", exc_info=True)
        return encode(build())
    if isinstance(report, bytes):  # anything else is a miss (an older release cached a dict)
        return report
    report = encode(build())
    try:
        cache.set(cache_key, report, seconds)
    except CACHE_ERRORS:
        logger.warning("could not cache the report", exc_info=True)
    return report


def encode(report: dict[str, Any]) -> bytes:
    """A report as the API sends it."""
    return FastJSONRenderer().render(report)
