import pytest
from django.db import connection

from attendance import services
from attendance.choices import MarkOutcome, RecordSource
from attendance.models import AttendanceRecord
from attendance.tests.conftest import at
from config.tests.races import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)


def _race(count, call):
    outcomes = []
    errors = run_at_once(*(lambda n=n: outcomes.append(call(n).outcome) for n in range(count)), timeout=10)
    return outcomes, errors


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks")


def test_two_workers_marking_the_same_sighting_make_one_record(postgres_only, session, room, students):
    outcomes, errors = _race(
        2,
        lambda n: services.mark_seen(student=students[0], at=at(9, 1), source=RecordSource.FACE, room=room),
    )
    assert errors == []
    assert sorted(outcomes) == sorted([MarkOutcome.MARKED, MarkOutcome.UNCHANGED])
    record = AttendanceRecord.objects.get()
    assert record.sightings_count == 1


def test_many_workers_with_different_sightings_make_one_record_with_all_counted(postgres_only, session, room, students):
    outcomes, errors = _race(
        6,
        lambda n: services.mark_seen(student=students[0], at=at(9, 1 + n), source=RecordSource.FACE, room=room),
    )
    assert errors == []
    assert outcomes.count(MarkOutcome.MARKED) == 1
    assert outcomes.count(MarkOutcome.UPDATED) == 5
    record = AttendanceRecord.objects.get()
    assert (record.sightings_count, record.first_seen_at, record.last_seen_at) == (6, at(9, 1), at(9, 6))
