"""The one rate limiter: django-ratelimit's counters on the shared cache, with an outage policy per use.

Every use names what happens when the cache cannot count (an exception from
`config.outages`, or django-ratelimit's "no count" answer):

- `Outage.FAIL_CLOSED` refuses with 503 `rate_limit_unavailable`: authentication
  (sign-in, password reset, sign-up, device registration), where a limit that
  lifts during an outage is an open door for guessing.
- `Outage.FAIL_OPEN` lets the request through and logs it: telemetry and general
  traffic (heartbeats, frame pushes, the anonymous API throttle), where refusing
  everything would take the whole fleet offline for a cache outage.

Windows are django-ratelimit's: fixed, `rate` long, their end offset per bucket
value so that buckets do not all reset at once. Over the limit is 429 with
Retry-After, the seconds until the fullest bucket's window ends.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.http import HttpRequest
from django_ratelimit.core import get_usage

from .exceptions import RateLimited, ServiceUnavailable
from .outages import CACHE_OR_BROKER_DOWN

logger = logging.getLogger("campus.ratelimits")


class Outage(enum.Enum):
    """What a limit does when the cache cannot count."""

    FAIL_CLOSED = "fail closed"
    FAIL_OPEN = "fail open"


class Bucket(NamedTuple):
    """One counter: `group` names the limit, `value` whose allowance it is, `rate` django-ratelimit's "5/m"."""

    group: str
    value: str
    rate: str


class _CacheCannotCount(Exception):
    pass


@dataclass(frozen=True)
class RateLimit:
    """One use of the limiter: its outage policy and what it tells a client it refuses."""

    name: str
    on_outage: Outage
    message: str = "Too many requests; try again later."
    unavailable_message: str = "Rate limiting is unavailable; try again shortly."

    def wait_seconds(self, buckets: Iterable[Bucket], *, request: HttpRequest | None = None) -> int:
        """Counts one request in every bucket; 0 when all allow it, else the seconds until they do.

        With the cache down: 0 when failing open (logged), ServiceUnavailable when failing closed.
        """
        wait = 0
        for bucket in buckets:
            try:
                usage = _count(bucket, request)
            except _CacheCannotCount as exc:
                if self.on_outage is Outage.FAIL_OPEN:
                    logger.warning("%s rate limit cannot count; letting the request through", self.name, exc_info=exc)
                    return 0
                logger.error("%s rate limit cannot count; refusing the request", self.name, exc_info=exc)
                raise ServiceUnavailable(self.unavailable_message, code="rate_limit_unavailable") from exc
            if usage is not None and usage["should_limit"]:
                wait = max(wait, usage["time_left"], 1)
        return wait

    def enforce(
        self,
        buckets: Iterable[Bucket],
        *,
        request: HttpRequest | None = None,
        message: str | None = None,
        details: Any = None,
    ) -> None:
        """Counts one request in every bucket: RateLimited (429, Retry-After) if any is over its rate."""
        wait = self.wait_seconds(buckets, request=request)
        if wait:
            raise RateLimited(message or self.message, retry_after=wait, details=details)

    def enforce_per_minute(self, group: str, value: str, limit: int, *, message: str) -> None:
        """`enforce` with one bucket of `limit` a minute; the 429's details carry `limit_per_minute`."""
        self.enforce([Bucket(group, value, f"{limit}/m")], message=message, details={"limit_per_minute": limit})


def _count(bucket: Bucket, request: HttpRequest | None) -> dict | None:
    """django-ratelimit's usage of `bucket` after one more request; None when rate limiting is switched off."""
    try:
        usage = get_usage(
            request, group=bucket.group, key=lambda _group, _request: bucket.value, rate=bucket.rate, increment=True
        )
    except CACHE_OR_BROKER_DOWN as exc:
        raise _CacheCannotCount(f"{bucket.group}: {exc}") from exc
    if usage is not None and usage["limit"] == 0 and usage["time_left"] == -1:
        # django-ratelimit's own answer when the cache gave no count (RATELIMIT_FAIL_OPEN is off).
        raise _CacheCannotCount(f"{bucket.group}: the cache gave no count")
    return usage
