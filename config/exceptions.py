"""The domain exceptions services raise; `config.errors` maps them to the API's one error format.

Their own module, free of DRF: code that DRF imports while it loads (the throttle
classes in REST_FRAMEWORK) can raise them without waiting for `config.errors`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused the operation. A subclass names its status and code in its header."""

    status_code = 400
    code = "invalid"

    def __init_subclass__(cls, *, status_code: int | None = None, code: str | None = None, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if status_code is not None:
            cls.status_code = status_code
        if code is not None:
            cls.code = code

    def __init__(self, message: str, *, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details if details is not None else {}


class InvalidInput(DomainError):
    """The request's values break a rule: DomainError's own 400 "invalid", under a name that says so."""


class NotAllowed(DomainError, status_code=403, code="permission_denied"):
    """The caller's role or scope does not allow this operation."""


class NotFound(DomainError, status_code=404, code="not_found"):
    """The record the request names does not exist (or no longer holds what was asked for)."""


class Conflict(DomainError, status_code=409, code="conflict"):
    """The record's current state refuses the change: already done, cancelled, taken."""


class PayloadTooLarge(DomainError, status_code=413, code="payload_too_large"):
    """An upload (a frame, a photo, a bundle) over its size limit."""


class RateLimited(DomainError, status_code=429, code="rate_limited"):
    """Too many attempts; the next is allowed after `retry_after` seconds."""

    def __init__(self, message: str = "Too many requests.", *, retry_after: int = 60, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError, status_code=503, code="service_unavailable"):
    """A backing service (the cache or the broker) is down; worth retrying in a few seconds."""

    retry_after = 5
