"""Two workers processing frames of the same student at the same moment leave one attendance record."""

from __future__ import annotations

import pytest

from attendance.models import AttendanceRecord
from cameras.intake import receive_frame
from cameras.models import FaceSighting
from cameras.pipeline import process_frame_id
from cameras.tests.conftest import photo_bytes
from config.tests.races import run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def run_in_threads(*jobs):
    errors = run_at_once(*jobs, timeout=120)
    assert not errors, errors


@pytest.mark.parametrize("consensus", [1, 2])
def test_two_workers_same_student_one_record(enrolled_obama, camera, session, settings, consensus):
    settings.FACE_STRONG_MATCH_DISTANCE = 0.0
    settings.FACE_CONSENSUS_SIGHTINGS = consensus
    first = receive_frame(camera=camera, data=photo_bytes("obama2.jpg"), enqueue=False).frame
    second = receive_frame(camera=camera, data=photo_bytes("obama_480p.jpg"), enqueue=False).frame
    run_in_threads(lambda: process_frame_id(first.pk), lambda: process_frame_id(second.pk))
    assert FaceSighting.objects.filter(student=enrolled_obama).count() == 2
    # Both rules end with exactly one record: with 2 needed, the second worker sees the first's sighting.
    record = AttendanceRecord.objects.get(student=enrolled_obama, session=session)
    assert FaceSighting.objects.filter(record=record).count() == 2


def test_two_workers_same_frame_process_it_once(enrolled_obama, camera, settings):
    frame = receive_frame(camera=camera, data=photo_bytes("obama2.jpg"), enqueue=False).frame
    results = []
    run_in_threads(lambda: results.append(process_frame_id(frame.pk)),
                   lambda: results.append(process_frame_id(frame.pk)))
    assert sorted(r is None for r in results) == [False, True]
    assert FaceSighting.objects.count() == 1
