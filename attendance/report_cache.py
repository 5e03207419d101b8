"""Section reports kept in the shared cache, under the section's data version.

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
"""

from __future__ import annotations

import datetime as dt
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
# A version outlives any report cached under it.
VERSION_SECONDS = 7 * 24 * 3600


def _version(section_id: int) -> str:
    key = VERSION_KEY.format(section_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, uuid.uuid4().hex, VERSION_SECONDS)
        version = cache.get(key)
    return str(version)


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
    seconds = settings.ATTENDANCE_REPORT_CACHE_SECONDS
    if seconds <= 0:
        return encode(build())
    try:
        key = REPORT_KEY.format(section_id, _version(section_id), date_from or "", date_to or "")
        report = cache.get(key)
    except CACHE_ERRORS:  # Redis down: the report is computed, as without a cache
        logger.warning("section report cache unavailable", exc_info=True)
        return encode(build())
    if isinstance(report, bytes):  # anything else is a miss (an older release cached a dict)
        return report
    report = encode(build())
    try:
        cache.set(key, report, seconds)
    except CACHE_ERRORS:
        logger.warning("could not cache the section report", exc_info=True)
    return report


def encode(report: dict[str, Any]) -> bytes:
    """A report as the API sends it."""
    return FastJSONRenderer().render(report)
