"""Every API error leaves in one format: {"error": {code, message, details, request_id}}."""

import pytest
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.tests.error_views")]


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response["X-Request-ID"]
    return error


def test_validation_error_lists_the_bad_fields(api_client):
    response = api_client.post("/api/v1/test/echo", {"name": "x" * 30, "count": "many"}, format="json")
    error = assert_error(response, 400, "invalid")
    assert set(error["details"]) == {"name", "count"}


def test_malformed_json_is_400(api_client):
    response = api_client.post("/api/v1/test/echo", data='{"name": "a", ', content_type="application/json")
    assert_error(response, 400, "malformed_request")


def test_wrong_content_type_is_415(api_client):
    response = api_client.post("/api/v1/test/echo", data="name=a", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_missing_credentials_is_401(api_client):
    response = api_client.get("/api/v1/test/needs-login")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_garbage_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api_client.get("/api/v1/test/needs-login")
    assert_error(response, 401, "authentication_failed")


def test_missing_permission_is_403(client_for, student_user):
    response = client_for(student_user).get("/api/v1/test/needs-manage-system")
    assert_error(response, 403, "permission_denied")


def test_unknown_api_path_is_404_in_the_error_format(api_client):
    response = api_client.get("/api/v1/no/such/thing")
    assert_error(response, 404, "not_found")


def test_wrong_method_is_405(api_client):
    response = api_client.get("/api/v1/test/echo")
    assert_error(response, 405, "method_not_allowed")


def test_domain_conflict_is_409_with_details(api_client):
    response = api_client.post("/api/v1/test/conflict", {}, format="json")
    error = assert_error(response, 409, "conflict")
    assert error["details"] == {"name": "taken"}


def test_oversized_body_is_413_before_the_view_runs(api_client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    response = api_client.post("/api/v1/test/echo", data="x" * 2000, content_type="application/json")
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"limit_bytes": 1000}


def test_throttled_is_429_with_retry_after(api_client):
    response = api_client.get("/api/v1/test/throttled")
    assert_error(response, 429, "rate_limited")
    assert response["Retry-After"] == "17"


def test_unhandled_error_is_500_without_a_trace(api_client):
    response = api_client.get("/api/v1/test/crash")
    error = assert_error(response, 500, "server_error")
    assert b"secret internal detail" not in response.content
    assert b"Traceback" not in response.content
    assert error["details"] == {}


def test_unhandled_error_outside_drf_is_500_in_the_error_format():
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/test/plain-crash")
    assert_error(response, 500, "server_error")
    assert b"secret internal detail" not in response.content


def test_non_api_paths_keep_html_errors():
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_value_the_database_cannot_hold_is_400_not_500(api_client):
    response = api_client.get("/api/v1/test/value-out-of-range", {"value": 100_000})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("what", ["redis", "broker"])
def test_redis_or_broker_unreachable_is_503_with_retry_after_not_500(api_client, what):
    response = api_client.get("/api/v1/test/backing-service-down", {"what": what})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response["Retry-After"] == "5"
    assert "6379" not in response.content.decode()
