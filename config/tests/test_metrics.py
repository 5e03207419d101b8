import pytest

pytestmark = pytest.mark.django_db


def test_metrics_refused_without_token_or_allowed_address(api_client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    settings.METRICS_ALLOWED_IPS = []
    response = api_client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_metrics_served_with_the_bearer_token(api_client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    settings.METRICS_ALLOWED_IPS = []
    response = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


def test_metrics_served_to_an_allowed_address(api_client, settings):
    settings.METRICS_TOKEN = None
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    assert api_client.get("/metrics").status_code == 200
