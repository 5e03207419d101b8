"""Anonymous API traffic: 60 requests a minute per client IP, counted on the shared cache."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from config.http import client_ip
from config.ratelimits import Bucket, Outage, RateLimit

# Fails open: with the cache down, anonymous requests pass (logged); what they reach
# (sign-in, reset, sign-up) keeps its own limits, which fail closed.
ANONYMOUS_LIMIT = RateLimit(name="anonymous API", on_outage=Outage.FAIL_OPEN)


class AnonymousRateThrottle(BaseThrottle):
    """DRF throttle on the one limiter; authenticated requests are not counted."""

    group = "api-anonymous"

    def allow_request(self, request, view) -> bool:
        self.wait_seconds: int | None = None
        if request.user and request.user.is_authenticated:
            return True
        wait = ANONYMOUS_LIMIT.wait_seconds(
            [Bucket(self.group, client_ip(request), settings.ACCOUNTS_ANONYMOUS_RATE)], request=request
        )
        if wait:
            self.wait_seconds = wait
            return False
        return True

    def wait(self) -> float | None:
        return getattr(self, "wait_seconds", None)
