"""Request id, access log and the request-body rules (size, framing) for every request."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.functional import empty

from . import errors
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
            user_id = _known_user_id(request)
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
            _drain_unread_body(request)
            return response
        finally:
            request_id_var.reset(token)
            user_id_var.set("-")

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A database outage outside DRF (admin, health) is a 503, not a 500 page.
        if isinstance(exception, DatabaseError):
            return exception_response(request, exception)
        return None


def _known_user_id(request: HttpRequest) -> int | None:
    """The user the request already authenticated as, without loading one.

    `request.user` is lazy: touching it here would read the session again, and
    with PostgreSQL down that is a second wait and a 500 after the view's 503.
    """
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)  # SimpleLazyObject, or DRF's real user
    if wrapped is empty:
        wrapped = getattr(request, "_cached_user", None)
    return wrapped.pk if wrapped is not None and getattr(wrapped, "is_authenticated", False) else None


def _drain_unread_body(request: HttpRequest) -> None:
    """Reads and drops a body the view never read (an early 403/413), up to a bound.

    gunicorn answers `Connection: keep-alive` and then, finding more than 64 KiB
    left on the socket, closes it: the client's next request on that connection
    fails. Reading the rest keeps the connection usable. Bodies beyond
    REQUEST_DRAIN_MAX_BYTES are not read; for those the connection still closes.
    """
    if getattr(request, "_read_started", False) or hasattr(request, "_body"):
        return
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        # gunicorn decodes the chunks and ends the stream at the last one; other
        # servers' inputs may not, so only gunicorn's is read without a length.
        stream = request.META.get("wsgi.input") if "gunicorn.socket" in request.META else None
    else:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return
        if length <= 0 or length > settings.REQUEST_DRAIN_MAX_BYTES:
            return
        stream = getattr(request, "_stream", None)
    if stream is None:
        return
    drained = 0
    try:
        while drained <= settings.REQUEST_DRAIN_MAX_BYTES:
            chunk = stream.read(64 * 1024)
            if not chunk:
                return
            drained += len(chunk)
    except OSError:  # the client went away; nothing left to keep
        return


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
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # Django reads bodies by Content-Length only: a chunked body would arrive
            # empty (a misleading "field required") and skip the size limit.
            return error_response(
                411, "length_required", "Send the body with a Content-Length; chunked bodies are not accepted."
            )
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
