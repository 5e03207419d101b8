"""A talk-like video at default settings: the speaker is marked present, from the first agreeing frame.

The clip is built from the project's own fixtures (`videos.build_talk_video`): a face moving
and zooming over a background, with noise and JPEG artefacts, whose distance to the
enrolment hovers around the threshold. Before tracking stopped hiding evidence, such a
speaker was never marked. Speed against the bare engine is measured in
`bench/bench_recognition.py`, not here.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from attendance.choices import SessionStatus
from attendance.models import AttendanceRecord
from attendance.tests.factories import ClassSessionFactory
from cameras.management.commands.ingest_video import replay
from cameras.models import FaceSighting
from cameras.tests.conftest import enrol_in
from cameras.tests.factories import CameraFactory
from cameras.tests.videos import build_talk_video

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "talk.mp4"
    build_talk_video(path)
    return path


@pytest.fixture
def lecture(other_room, lone_obama):
    start = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=1)
    session = ClassSessionFactory(
        room=other_room, date=timezone.localdate(start), scheduled_start=start,
        scheduled_end=start + dt.timedelta(minutes=60), status=SessionStatus.OPEN, opened_at=start,
    )
    enrol_in(session, lone_obama)
    return session


@pytest.mark.parametrize("every", [None, 0], ids=["camera_interval", "every_frame"])
def test_the_speaker_is_marked_present_from_the_first_agreeing_frame(lone_obama, lecture, talk, every):
    camera = CameraFactory(room=lecture.room, sample_interval_seconds=2.0)  # a classroom camera's interval
    start = lecture.scheduled_start + dt.timedelta(seconds=30)
    summary = replay(camera=camera, source=talk, start=start, every=every, progress=False)
    assert summary["students_marked_ids"] == [lone_obama.pk]
    record = AttendanceRecord.objects.get(student=lone_obama, session=lecture)
    assert record.status == "present"
    matched = FaceSighting.objects.filter(student=lone_obama, needs_review=False).order_by("seen_at")
    assert matched.count() >= 2
    assert record.first_seen_at == matched.first().seen_at
    assert all(s.distance > 0.35 for s in matched if not s.tracked)  # no strong shortcut: consensus did it
