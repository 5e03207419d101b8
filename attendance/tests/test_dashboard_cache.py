"""The campus-wide dashboard summary is cached already encoded, and the admin page reads the same entry."""

from __future__ import annotations

import orjson
import pytest
from django.core.cache import cache
from django.utils import timezone

from attendance import dashboard

pytestmark = pytest.mark.django_db


def test_the_cached_entry_is_the_apis_json(client_for, admin_user):
    response = client_for(admin_user).get("/api/v1/dashboard/summary")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    cached = cache.get(dashboard._cache_key(timezone.localdate()))
    assert cached == response.content
    assert dashboard.summary(user=admin_user) == orjson.loads(cached) == response.json()


def test_an_entry_that_is_not_encoded_json_is_a_miss(client_for, admin_user):
    # An older release cached the summary as a dict.
    cache.set(dashboard._cache_key(timezone.localdate()), {"stale": True}, 60)
    body = client_for(admin_user).get("/api/v1/dashboard/summary").json()
    assert "stale" not in body and body["date"] == timezone.localdate().isoformat()
    assert isinstance(cache.get(dashboard._cache_key(timezone.localdate())), bytes)
