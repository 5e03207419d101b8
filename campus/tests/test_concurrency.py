"""Two writers racing for one room at one time: exactly one wins."""

import datetime
import time

import pytest

from campus import services
from campus.models import TimetableSlot
from campus.tests.factories import RoomFactory, SectionFactory
from config.exceptions import Conflict
from config.tests.races import run_at_once


@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_slots_cannot_both_be_saved(monkeypatch):
    real_check = services.overlapping_slots

    def slow_check(**kwargs):
        # Hold the gap between "no clash found" and the insert open, so that
        # without the row locks both writers would pass the check.
        found = list(real_check(**kwargs))
        time.sleep(0.5)
        return found

    monkeypatch.setattr(services, "overlapping_slots", slow_check)
    room = RoomFactory()
    sections = [SectionFactory(), SectionFactory()]
    outcomes: list[str] = []

    def book(section):
        try:
            services.save_timetable_slot(
                slot=TimetableSlot(
                    section=section,
                    room=room,
                    weekday=0,
                    start_time=datetime.time(9),
                    end_time=datetime.time(10),
                    valid_from=datetime.date(2026, 9, 1),
                )
            )
            outcomes.append("saved")
        except Conflict:
            outcomes.append("conflict")

    run_at_once(*(lambda section=section: book(section) for section in sections))
    assert sorted(outcomes) == ["conflict", "saved"]
    assert TimetableSlot.objects.filter(room=room).count() == 1
