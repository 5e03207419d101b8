"""Anonymous API traffic: 60 requests a minute per client IP, counted on the shared cache."""

from __future__ import annotations

import logging

from django.conf import settings
from django_ratelimit.core import get_usage
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from config.http import client_ip

logger = logging.getLogger("campus.accounts")

# What a cache outage looks like from django-redis, redis-py and sockets.
# (Defined here, not in ratelimits: DRF imports this module while config.errors is still loading.)
CACHE_ERRORS = (ConnectionInterrupted, RedisError, OSError)


class AnonymousRateThrottle(BaseThrottle):
    """DRF throttle on django-ratelimit. Fails open: with the cache down, requests pass (logged)."""

    group = "api-anonymous"

    def allow_request(self, request, view) -> bool:
        self.wait_seconds: int | None = None
        if request.user and request.user.is_authenticated:
            return True
        try:
            usage = get_usage(
                request,
                group=self.group,
                key=lambda _group, req: client_ip(req),
                rate=settings.ACCOUNTS_ANONYMOUS_RATE,
                increment=True,
            )
        except CACHE_ERRORS as exc:
            logger.warning("anonymous throttle cache unavailable; letting the request through", exc_info=exc)
            return True
        if usage is None or not usage["should_limit"]:
            return True
        if usage["limit"] == 0 and usage["time_left"] == -1:
            logger.warning("anonymous throttle cache gave no count; letting the request through")
            return True
        self.wait_seconds = max(usage["time_left"], 1)
        return False

    def wait(self) -> float | None:
        return getattr(self, "wait_seconds", None)
