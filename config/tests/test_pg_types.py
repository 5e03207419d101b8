"""Timestamps are parsed by psycopg's compiled loader and come back as Django's own loader gives them."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from psycopg.pq import Format

from config import pg_types

pytestmark = pytest.mark.django_db


def _read(sql: str, params: list) -> tuple[object, type]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        value = cursor.fetchone()[0]
    loader = connection.connection.adapters.get_loader(pg_types.TIMESTAMPTZ_OID, Format.TEXT)
    return value, loader


def test_the_parser_is_psycopgs_compiled_one():
    # requirements.txt installs psycopg[binary]; without it this is the Python loader again.
    assert pg_types._PARSER.__module__ in {"psycopg_binary._psycopg", "psycopg_c._psycopg"}


@pytest.mark.parametrize("text, expected", [
    ("2026-03-29 01:30:00.123456+02", dt.datetime(2026, 3, 28, 23, 30, 0, 123456, tzinfo=dt.UTC)),
    ("2026-12-04 10:00:00+00", dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)),
    ("0001-01-01 00:00:00+00", dt.datetime(1, 1, 1, tzinfo=dt.UTC)),
])
def test_a_timestamp_reads_as_an_aware_datetime_in_the_connections_zone(text, expected):
    value, loader = _read("SELECT %s::timestamptz", [text])

    assert issubclass(loader, pg_types.CompiledTimestamptzLoader)
    assert value == expected
    # The very zone object Django's loader attaches, so nothing downstream can tell them apart.
    assert value.tzinfo is connection.timezone


def test_a_model_round_trip_keeps_the_instant(django_user_model):
    joined = timezone.now().replace(microsecond=654321)
    user = django_user_model.objects.create(username="clock", date_joined=joined)

    assert django_user_model.objects.values_list("date_joined", flat=True).get(pk=user.pk) == joined


def test_a_timestamp_postgresql_cannot_give_python_is_refused_as_before():
    from django.db.utils import DataError

    with pytest.raises(DataError):
        _read("SELECT 'infinity'::timestamptz", [])
