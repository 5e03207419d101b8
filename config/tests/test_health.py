import pytest

pytestmark = pytest.mark.django_db


def test_live_needs_nothing(api_client):
    response = api_client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_is_200_when_database_cache_and_broker_answer(api_client):
    response = api_client.get("/health/ready")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


def test_ready_is_503_naming_the_cache_when_redis_is_unreachable(api_client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    response = api_client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["cache"]
    assert body["checks"]["database"] == "ok"


def test_full_is_for_staff_only(client_for, student_user, api_client):
    assert api_client.get("/health/full").status_code == 401
    assert client_for(student_user).get("/health/full").status_code == 403


def test_full_shows_component_details_to_staff(client_for, staff_user):
    response = client_for(staff_user).get("/health/full")
    body = response.json()
    assert body["dependencies"]["database"]["ok"] is True
    assert "latency_ms" in body["dependencies"]["cache"]
    assert isinstance(body["components"], dict)
