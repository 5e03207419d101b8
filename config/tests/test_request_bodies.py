"""Bad input is a 4xx, never a 500 or a 503: nesting, framing, out-of-range values, unread bodies."""

from __future__ import annotations

import io

import pytest
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest
from django.test import RequestFactory

from config.middleware import _drain_unread_body, _known_user_id
from config.parsers import json_depth_exceeds

pytestmark = pytest.mark.django_db

DEEP = "[" * 1000 + "]" * 1000


def _error_code(response) -> str:
    return response.json()["error"]["code"]


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/register", "/api/v1/auth/refresh", "/api/v1/auth/login", "/api/v1/devices/register"]
)
def test_deeply_nested_json_is_400_before_parsing(api_client, path):
    response = api_client.post(path, data='{"a": ' + DEEP + "}", content_type="application/json")
    assert response.status_code == 400, response.content
    assert _error_code(response) == "malformed_request"


def test_nesting_depth_ignores_brackets_inside_strings():
    assert not json_depth_exceeds(b'{"note": "' + b"[" * 500 + b'"}', 64)
    assert json_depth_exceeds(b"[" * 65 + b"]" * 65, 64)
    assert not json_depth_exceeds(b"[" * 64 + b"]" * 64, 64)


def test_chunked_body_is_refused_with_411(client_for, admin_user):
    response = client_for(admin_user).post(
        "/api/v1/buildings", data={"code": "B1", "name": "Main"}, format="json", HTTP_TRANSFER_ENCODING="chunked"
    )
    assert response.status_code == 411
    assert _error_code(response) == "length_required"
    from campus.models import Building

    assert not Building.objects.exists()


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+23:00", "9999-12-31T23:59:59-23:00"])
def test_a_datetime_filter_at_the_ends_of_the_calendar_is_answered_not_503(client_for, admin_user, value):
    """Bound by the server (the default), the instant reaches PostgreSQL in UTC and simply matches
    nothing; as a literal (DB_PREPARED_STATEMENTS=0) its +23:00 offset is refused, a 400."""
    from django.db import connection

    response = client_for(admin_user).get("/api/v1/complaints", {"created_after": value})
    if connection.features.uses_server_side_binding:
        assert response.status_code == 200, response.content
        assert response.json()["results"] == []
    else:
        assert response.status_code == 400, response.content
        assert _error_code(response) == "invalid"


def _post_with_unread_body(path: str, size: int) -> tuple[HttpRequest, io.BytesIO]:
    """A POST whose `size`-byte body nothing has read yet, and the stream behind it (its position shows the reads)."""
    body = io.BytesIO(b"x" * size)
    request = RequestFactory().post(path, data=b"", content_type="image/jpeg")
    request.META["CONTENT_LENGTH"] = str(size)
    request._stream = LimitedStream(body, size)
    return request, body


def test_an_unread_body_is_drained_so_the_connection_stays_usable(settings):
    settings.REQUEST_DRAIN_MAX_BYTES = 1024 * 1024
    request, body = _post_with_unread_body("/api/v1/cameras/1/frames", 200_000)
    _drain_unread_body(request)
    assert body.tell() == 200_000


def test_a_body_over_the_drain_bound_is_left_alone(settings):
    settings.REQUEST_DRAIN_MAX_BYTES = 1000
    request, body = _post_with_unread_body("/x", 5000)
    _drain_unread_body(request)
    assert body.tell() == 0


def test_access_log_does_not_load_a_lazy_user():
    from django.db import OperationalError
    from django.utils.functional import SimpleLazyObject

    def load_session():
        raise OperationalError("database is down")

    request = RequestFactory().get("/admin/")
    request.user = SimpleLazyObject(load_session)
    assert _known_user_id(request) is None  # and no OperationalError


def test_a_401_body_carries_no_token_internals(api_client):
    response = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION="Bearer not.a.token")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "authentication_failed"
    assert error["details"] == {}
    assert "token_class" not in response.content.decode()
