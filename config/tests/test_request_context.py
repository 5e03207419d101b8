import io
import json
import logging

import pytest
from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

from config.logging import RequestContextFilter

pytestmark = pytest.mark.django_db


def test_client_request_id_is_returned(api_client):
    response = api_client.get("/health/live", HTTP_X_REQUEST_ID="abc-123.trace")
    assert response["X-Request-ID"] == "abc-123.trace"


def test_request_id_is_generated_when_missing(api_client):
    first = api_client.get("/health/live")["X-Request-ID"]
    second = api_client.get("/health/live")["X-Request-ID"]
    assert len(first) == 32 and first != second


def test_malformed_client_request_id_is_replaced(api_client):
    response = api_client.get("/health/live", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


@pytest.fixture
def json_access_log():
    """The access logger wired to the JSON formatter exactly as settings configure it."""
    conf = settings.LOGGING["formatters"]["json"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(conf["fmt"], rename_fields=conf["rename_fields"]))
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("campus.access")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_access_log_line_is_json_with_request_fields(client_for, staff_user, json_access_log):
    response = client_for(staff_user).get("/api/v1/ping", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200
    lines = [json.loads(line) for line in json_access_log.getvalue().splitlines()]
    line = next(item for item in lines if item.get("path") == "/api/v1/ping")
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["request_id"] == "req-42"
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "INFO"
    assert line["logger"] == "campus.access"


def test_access_log_names_the_authenticated_user(client_for, staff_user, json_access_log, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK}
    client_for(staff_user).get("/health/full")
    lines = [json.loads(line) for line in json_access_log.getvalue().splitlines()]
    line = next(item for item in lines if item.get("path") == "/health/full")
    assert line["user_id"] == staff_user.pk


def test_text_access_log_line_carries_its_fields(client_for, staff_user):
    from config.logging import TextFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter(settings.LOGGING["formatters"]["text"]["format"]))
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("campus.access")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        client_for(staff_user).get("/api/v1/auth/me", HTTP_X_REQUEST_ID="req-43")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    line = next(item for item in stream.getvalue().splitlines() if "path=/api/v1/auth/me" in item)
    assert "[req-43] request" in line
    assert "method=GET" in line and "status=200" in line and f"user_id={staff_user.pk}" in line
