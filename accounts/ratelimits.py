"""Rate limits on the shared cache (django-ratelimit), with an explicit Redis-down policy.

`enforce` fails closed: when the cache cannot count, the caller gets 503, never
500 and never an unlimited endpoint. Used by login and password reset.
The anonymous API throttle (`accounts.throttling`) fails open instead.
"""

from __future__ import annotations

import logging

from django_ratelimit.core import get_usage

from config.errors import RateLimited, ServiceUnavailable

from .throttling import CACHE_ERRORS

logger = logging.getLogger("campus.accounts")


def count_attempt(request, *, group: str, value: str, rate: str) -> dict | None:
    """Counts one attempt in `group` for `value`; None when rate limiting is disabled.

    Raises ServiceUnavailable when the cache cannot count.
    """
    try:
        usage = get_usage(request, group=group, key=lambda _group, _request: value, rate=rate, increment=True)
    except CACHE_ERRORS as exc:
        logger.error("rate-limit cache unavailable; refusing %s", group, exc_info=exc)
        raise ServiceUnavailable(
            "Sign-in protection is unavailable; try again shortly.", code="rate_limit_unavailable"
        ) from exc
    if usage is not None and usage["limit"] == 0 and usage["time_left"] == -1:
        # django-ratelimit's own signal that the cache gave no count.
        logger.error("rate-limit cache returned no count; refusing %s", group)
        raise ServiceUnavailable("Sign-in protection is unavailable; try again shortly.", code="rate_limit_unavailable")
    return usage


def enforce(request, *, limits: list[tuple[str, str, str]]) -> None:
    """Counts the attempt in every (group, value, rate) bucket; 429 if any is over its limit."""
    retry_after = 0
    for group, value, rate in limits:
        usage = count_attempt(request, group=group, value=value, rate=rate)
        if usage is not None and usage["should_limit"]:
            retry_after = max(retry_after, usage["time_left"], 1)
    if retry_after:
        raise RateLimited("Too many attempts; try again later.", retry_after=retry_after)
