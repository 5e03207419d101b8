"""Request id, access log and body-size limit for every request."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from .errors import error_response, exception_response
from .logging import accept_or_make_request_id, request_id_var, user_id_var

access_log = logging.getLogger("campus.access")


class RequestContextMiddleware:
    """Accepts or makes X-Request-ID, returns it, and logs one line a request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accept_or_make_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            user = getattr(request, "user", None)
            user_id = user.pk if user is not None and user.is_authenticated else None
            fields = {
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "user_id": user_id,
                "request_id": request_id,
            }
            if duration_ms >= settings.SLOW_REQUEST_MS:
                access_log.warning("slow request", extra={**fields, "slow": True})
            else:
                access_log.info("request", extra=fields)
            return response
        finally:
            request_id_var.reset(token)
            user_id_var.set("-")

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A database outage outside DRF (admin, health) is a 503, not a 500 page.
        if isinstance(exception, DatabaseError):
            return exception_response(request, exception)
        return None


class BodySizeLimitMiddleware:
    """Refuses bodies over the limit for their path with 413, before any view reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def limit_for(path: str) -> int:
        for prefix, limit in settings.REQUEST_BODY_LIMITS.items():
            if path.startswith(prefix):
                return limit
        return settings.MAX_REQUEST_BODY_BYTES

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "invalid", "Content-Length is not a number.")
        limit = self.limit_for(request.path)
        if length > limit:
            return error_response(
                413, "payload_too_large", f"Request body is {length} bytes; the limit here is {limit}.",
                details={"limit_bytes": limit},
            )
        return self.get_response(request)
