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


class ApiErrorFormatMiddleware:
    """Every error on an /api/ path leaves in the error format, with DEBUG on too.

    With DEBUG on, Django answers an unknown URL or an uncaught exception with its
    HTML debug pages instead of calling handler404/handler500, and a plain Django
    view's 405 is HTML whatever DEBUG says. On /api/ paths such a response is
    replaced by the project's handler for its status (Django logged the exception
    already). JSON responses, and every other path, are left alone.
    """

    KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith("/api/")
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        return self.in_error_format(request, response)

    def in_error_format(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        from . import errors

        status = response.status_code
        handler = {400: errors.handler400, 403: errors.handler403, 404: errors.handler404}.get(status)
        if handler is not None:
            replacement = handler(request)
        elif status == 405:
            replacement = error_response(405, "method_not_allowed", f"Method {request.method} is not allowed here.")
        elif status >= 500:
            replacement = errors.handler500(request)
            replacement.status_code = status
        else:
            replacement = error_response(status, "error", response.reason_phrase or "The request failed.")
        for name in self.KEPT_HEADERS:
            if name in response:
                replacement[name] = response[name]
        return replacement
