"""The one error format of the API, and how each exception maps to it.

Every error leaves as `{"error": {"code", "message", "details", "request_id"}}`.
Services raise `DomainError` subclasses; views never build error bodies by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions as drf
from rest_framework.views import set_rollback

from .exceptions import DomainError
from .logging import current_request_id
from .outages import CACHE_OR_BROKER_DOWN

logger = logging.getLogger("campus.errors")


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details if details is not None else {},
            "request_id": current_request_id(),
        }
    }


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


_DRF_CODES = {
    drf.ParseError: ("malformed_request", None),
    drf.AuthenticationFailed: ("authentication_failed", None),
    drf.NotAuthenticated: ("not_authenticated", None),
    drf.PermissionDenied: ("permission_denied", None),
    drf.NotFound: ("not_found", None),
    drf.MethodNotAllowed: ("method_not_allowed", None),
    drf.NotAcceptable: ("not_acceptable", None),
    drf.UnsupportedMediaType: ("unsupported_media_type", None),
    drf.Throttled: ("rate_limited", None),
}


def _drf_code(exc: drf.APIException) -> str:
    for cls, (code, _) in _DRF_CODES.items():
        if isinstance(exc, cls):
            return code
    if isinstance(exc, drf.ValidationError):
        return "invalid"
    return exc.default_code or "error"


def _describe(exc: Exception) -> tuple[int, str, str, Any, dict]:
    """status, code, message, details, extra headers for any exception."""
    if isinstance(exc, DomainError):
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return exc.status_code, exc.code, exc.message, exc.details, headers
    if isinstance(exc, Ratelimited):
        return 429, "rate_limited", "Too many requests; try again later.", {}, {"Retry-After": "60"}
    if isinstance(exc, drf.ValidationError):
        return 400, "invalid", "The request has invalid fields.", exc.detail, {}
    if isinstance(exc, drf.APIException):
        headers = {}
        wait = getattr(exc, "wait", None)
        if wait is not None:
            headers["Retry-After"] = str(int(wait) or 1)
        detail = exc.detail
        if isinstance(exc, drf.AuthenticationFailed) and isinstance(detail, dict):
            # simplejwt's InvalidToken carries its internals (token_class, messages): keep the reason only.
            return exc.status_code, _drf_code(exc), str(detail.get("detail", "Authentication failed.")), {}, headers
        message = str(detail) if not isinstance(detail, (dict, list)) else "The request failed."
        return exc.status_code, _drf_code(exc), message, {} if isinstance(detail, str) else detail, headers
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return 400, "invalid", "The request has invalid fields.", details, {}
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        return 404, "not_found", "Not found.", {}, {}
    if isinstance(exc, DjangoPermissionDenied):
        return 403, "permission_denied", "You do not have permission to perform this action.", {}, {}
    if isinstance(exc, RequestDataTooBig):
        return 413, "payload_too_large", "The request body is too large.", {}, {}
    if isinstance(exc, IntegrityError):
        logger.warning("integrity error mapped to 409", exc_info=exc)
        return 409, "conflict", "The change conflicts with existing data.", {}, {}
    if isinstance(exc, DataError):
        # A value PostgreSQL cannot hold (a time zone offset out of range, a number too
        # large): the client's input, not an outage.
        logger.warning("data error mapped to 400: %s", exc)
        return 400, "invalid", "A value in the request is out of range.", {}, {}
    if isinstance(exc, (OperationalError, InterfaceError)):
        # Only a lost or refused connection (or the pool's wait running out) is an outage.
        logger.error("database unavailable", exc_info=exc)
        return 503, "service_unavailable", "The database is unavailable; try again shortly.", {}, {"Retry-After": "5"}
    if isinstance(exc, CACHE_OR_BROKER_DOWN):
        # Redis (cache, rate limits, broker) unreachable. Services take their Redis steps before
        # they write (rate limits, the motion gate) or after commit, where the periodic jobs
        # find the work again (a stored frame whose task was not queued is re-queued).
        logger.error("cache or broker unavailable", exc_info=exc)
        message = "A backing service is unavailable; try again shortly."
        return 503, "service_unavailable", message, {}, {"Retry-After": "5"}
    logger.error("unhandled error", exc_info=exc)
    return 500, "server_error", "An unexpected error occurred.", {}, {}


def api_exception_handler(exc: Exception, context: dict) -> JsonResponse:
    """DRF's EXCEPTION_HANDLER: every API error in the one format, never a trace."""
    status, code, message, details, headers = _describe(exc)
    set_rollback()
    response = error_response(status, code, message, details, headers)
    auth_header = getattr(exc, "auth_header", None)
    if status == 401 and auth_header is None:
        request = context.get("request")
        view = context.get("view")
        if view is not None and request is not None:
            auth_header = view.get_authenticate_header(request)
    if status == 401:
        response["WWW-Authenticate"] = auth_header or 'Bearer realm="api"'
    return response


def exception_response(request: HttpRequest, exc: Exception) -> JsonResponse:
    """The same mapping for exceptions that escape outside DRF (middleware)."""
    status, code, message, details, headers = _describe(exc)
    return error_response(status, code, message, details, headers)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception | None = None):
    if _is_api(request):
        return error_response(404, "not_found", "No such endpoint.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest):
    if _is_api(request):
        return error_response(500, "server_error", "An unexpected error occurred.")
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request: HttpRequest, exception: Exception | None = None):
    if _is_api(request):
        return error_response(400, "bad_request", "Bad request.")
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception | None = None):
    if isinstance(exception, Ratelimited):
        return error_response(429, "rate_limited", "Too many requests; try again later.", headers={"Retry-After": "60"})
    if _is_api(request):
        return error_response(403, "permission_denied", "You do not have permission to perform this action.")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)
