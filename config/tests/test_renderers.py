import datetime as dt
import decimal
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from config.renderers import FastJSONRenderer

PAYLOAD = {
    "when": dt.datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=dt.UTC),
    "local": dt.datetime(2026, 12, 3, 9, 30, tzinfo=ZoneInfo("Europe/Berlin")),
    "naive": dt.datetime(2026, 12, 3, 9, 30),
    "day": dt.date(2026, 12, 3),
    "at": dt.time(9, 30),
    "took": dt.timedelta(seconds=90),
    "rate": decimal.Decimal("0.8125"),
    "ratio": 0.1 + 0.2,
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "label": gettext_lazy("Present"),
    "name": "Zoë \u2028 \u2029 </script>",
    "counts": {1: 2, "present": 3},
    "rows": [(1, 2), [None, True, False]],
    "tags": frozenset(["a"]),
}


def test_output_is_drfs_byte_for_byte():
    assert FastJSONRenderer().render(PAYLOAD) == JSONRenderer().render(PAYLOAD)


def test_the_line_separators_are_escaped_as_drf_does():
    content = FastJSONRenderer().render({"name": "a\u2028b\u2029c"})
    assert content == b'{"name":"a\\u2028b\\u2029c"}'
    assert json.loads(content) == {"name": "a\u2028b\u2029c"}


def test_indented_output_on_request_is_drfs():
    media_type = "application/json; indent=4"
    assert FastJSONRenderer().render(PAYLOAD, media_type) == JSONRenderer().render(PAYLOAD, media_type)
    assert b"\n    " in FastJSONRenderer().render(PAYLOAD, media_type)


def test_nothing_renders_as_an_empty_body():
    assert FastJSONRenderer().render(None) == b""


@pytest.mark.django_db
def test_the_api_answers_through_it(client):
    response = client.get("/api/v1/ping")
    assert response.json() == {"pong": True}
    response = client.get(reverse("attendance-record-list"))
    assert response.status_code == 401
    assert response.json()["error"]["code"]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Sao_Paulo"])
@pytest.mark.parametrize("value", [
    dt.datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 7, 1, 23, 59, tzinfo=ZoneInfo("Asia/Tokyo")),
])
def test_iso_datetime_is_drfs_datetime_field(settings, zone, value):
    from django.utils import timezone
    from rest_framework import serializers

    from config.serializers import iso_datetime

    settings.TIME_ZONE = zone
    with timezone.override(zone):
        assert iso_datetime(value) == serializers.DateTimeField().to_representation(value)
    assert iso_datetime(None) is None
