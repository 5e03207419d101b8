"""The recognition pipeline on real photos: who is recognised, sightings, consensus, conflicts, tracking."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
import pytest
from celery.exceptions import Retry
from django.utils import timezone

from attendance.models import AttendanceRecord
from cameras.choices import FrameState, SightingOutcome
from cameras.models import FaceSighting, Frame, SessionFaceCount, UnknownFace
from cameras.tests.conftest import ingest, jpeg, no_face_photo, photo_bytes, read_rgb
from cameras.tests.factories import CameraFactory
from config.storage import stored_names

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_strong_match_is_not_enough(settings):
    # Consensus is exercised explicitly; most tests want the default rule (2 agreeing).
    settings.FACE_CONSENSUS_SIGHTINGS = 2


@pytest.fixture
def embed_calls(monkeypatch) -> list[int]:
    """How many faces each call of the engine's embed_many got, from here on."""
    from cameras.engine import get_engine

    engine = get_engine()
    calls: list[int] = []
    original = engine.embed_many
    monkeypatch.setattr(engine, "embed_many", lambda image, boxes: calls.append(len(boxes)) or original(image, boxes))
    return calls


def moved(name: str, shift: int = 0, mark: int = 0) -> bytes:
    """The photo with a block drawn in a corner (motion elsewhere) and optionally shifted sideways."""
    image = read_rgb(name).copy()
    if shift:
        image = cv2.warpAffine(image, cv2.UMat(cv2.getRotationMatrix2D((0, 0), 0, 1.0)).get(), image.shape[1::-1])
        image = image if shift == 0 else cv2.copyMakeBorder(image[:, : -shift], 0, 0, shift, 0, cv2.BORDER_REPLICATE)
    cv2.rectangle(image, (0, 0), (60 + 20 * mark, 60 + 20 * mark), (255, (40 * mark) % 255, 0), -1)
    return jpeg(image)


def test_other_photos_of_the_enrolled_student_are_recognised(enrolled_obama, camera):
    frame = ingest(camera, photo_bytes("obama2.jpg"))
    assert frame.state == FrameState.DONE
    sighting = frame.sightings.get()
    assert sighting.student == enrolled_obama
    assert sighting.distance is not None and sighting.distance < 0.45
    frame = ingest(camera, photo_bytes("obama_480p.jpg"))
    assert frame.sightings.get().student == enrolled_obama


def test_another_person_is_not_recognised_and_kept_for_review(enrolled_obama, biden, camera):
    frame = ingest(camera, photo_bytes("biden.jpg"))
    sighting = frame.sightings.get()
    assert sighting.student is None
    assert sighting.outcome == SightingOutcome.UNKNOWN
    unknown = UnknownFace.objects.get(sighting=sighting)
    assert unknown.crop and unknown.group is not None
    assert not AttendanceRecord.objects.filter(student=biden).exists()


def test_both_faces_of_a_two_person_photo_are_handled(enrolled_obama, camera, session):
    frame = ingest(camera, photo_bytes("obama_and_biden.jpg"))
    sightings = list(frame.sightings.order_by("box"))
    assert frame.faces_detected == 2
    assert len(sightings) == 2
    assert sorted(s.student_id is not None for s in sightings) == [False, True]
    assert {s.student_id for s in sightings} == {None, enrolled_obama.pk}
    counts = SessionFaceCount.objects.get(session=session)
    assert (counts.faces_detected, counts.faces_recognised, counts.faces_unrecognised) == (2, 1, 1)


def test_photo_without_a_face_gives_no_sighting(enrolled_obama, camera):
    frame = ingest(camera, no_face_photo())
    assert frame.state == FrameState.DONE
    assert frame.faces_detected == 0
    assert not FaceSighting.objects.exists()


def test_frame_bytes_are_not_kept_after_processing(enrolled_obama, camera, settings,
                                                   django_capture_on_commit_callbacks):
    settings.FRAME_KEEP_IMAGES = False
    with django_capture_on_commit_callbacks(execute=True):
        frame = ingest(camera, photo_bytes("obama2.jpg"))
    assert frame.image.name == ""
    assert stored_names("frames") == []


def test_two_agreeing_sightings_mark_once(enrolled_obama, camera, session, settings):
    settings.FACE_STRONG_MATCH_DISTANCE = 0.0  # no shortcut: consensus only
    first = ingest(camera, moved("obama2.jpg", mark=1))
    assert first.sightings.get().outcome == SightingOutcome.AWAITING_CONSENSUS
    assert not AttendanceRecord.objects.exists()
    later = timezone.now() + dt.timedelta(seconds=5)
    second = ingest(camera, moved("obama2.jpg", mark=2), captured_at=later)
    sighting = second.sightings.get()
    assert sighting.outcome == SightingOutcome.MARKED
    record = AttendanceRecord.objects.get(student=enrolled_obama, session=session)
    assert sighting.record == record
    # The first, agreeing sighting is evidence of the same record.
    assert first.sightings.get().record == record
    third = ingest(camera, moved("obama2.jpg", mark=3), captured_at=later + dt.timedelta(seconds=5))
    assert third.sightings.get().outcome in {SightingOutcome.UNCHANGED, SightingOutcome.UPDATED}
    assert AttendanceRecord.objects.filter(student=enrolled_obama).count() == 1


@pytest.mark.parametrize(("needed", "frames_until_marked"), [(1, 1), (2, 2), (3, 3)])
def test_consensus_setting_decides_how_many_sightings_mark(enrolled_obama, camera, settings, needed,
                                                           frames_until_marked):
    settings.FACE_STRONG_MATCH_DISTANCE = 0.0
    settings.FACE_CONSENSUS_SIGHTINGS = needed
    start = timezone.now()
    marked_after = None
    for index in range(1, 4):
        ingest(camera, moved("obama2.jpg", mark=index), captured_at=start + dt.timedelta(seconds=4 * index))
        if marked_after is None and AttendanceRecord.objects.filter(student=enrolled_obama).exists():
            marked_after = index
    assert marked_after == frames_until_marked


def test_one_strong_match_marks_at_once(enrolled_obama, camera, settings):
    settings.FACE_STRONG_MATCH_DISTANCE = 0.2  # obama_480p is ~0.08 from the enrolment photo
    frame = ingest(camera, photo_bytes("obama_480p.jpg"))
    assert frame.sightings.get().outcome == SightingOutcome.MARKED
    assert AttendanceRecord.objects.filter(student=enrolled_obama).count() == 1


def test_same_student_in_two_rooms_is_flagged_on_both_and_marked_in_neither(enrolled_obama, camera, other_room,
                                                                             settings):
    from cameras.tests.conftest import enrol_in, open_session

    settings.FACE_STRONG_MATCH_DISTANCE = 0.2
    other_session = open_session(other_room)
    enrol_in(other_session, enrolled_obama)
    elsewhere = CameraFactory(room=other_room)
    settings.FACE_STRONG_MATCH_DISTANCE = 0.0
    start = timezone.now()
    ingest(camera, moved("obama2.jpg", mark=1), captured_at=start)
    ingest(elsewhere, moved("obama2.jpg", mark=2), captured_at=start + dt.timedelta(seconds=3))
    ingest(camera, moved("obama2.jpg", mark=3), captured_at=start + dt.timedelta(seconds=6))
    ingest(elsewhere, moved("obama2.jpg", mark=4), captured_at=start + dt.timedelta(seconds=9))
    sightings = FaceSighting.objects.filter(student=enrolled_obama)
    assert sightings.count() == 4
    assert all(s.needs_review for s in sightings)
    assert {s.room_id for s in sightings} == {camera.room_id, other_room.pk}
    # Marked in neither: each session's record is held, unverified, for a person to decide.
    records = AttendanceRecord.objects.filter(student=enrolled_obama)
    assert sorted((r.session.room_id, r.status, r.needs_review) for r in records) == sorted(
        [(camera.room_id, "unverified", True), (other_room.pk, "unverified", True)]
    )


def test_a_mark_made_before_the_conflict_is_held_and_stays_held(enrolled_obama, session, camera, other_room,
                                                                 settings, admin_user):
    from attendance.services import mark_manually
    from cameras.tests.conftest import enrol_in, open_session

    other_session = open_session(other_room)
    enrol_in(other_session, enrolled_obama)
    settings.FACE_STRONG_MATCH_DISTANCE = 0.2  # obama_480p is a strong match: marked at once
    start = timezone.now()
    ingest(camera, photo_bytes("obama_480p.jpg"), captured_at=start)
    record = AttendanceRecord.objects.get(student=enrolled_obama, session=session)
    marked_as = record.status  # late: the session started ten minutes ago
    assert marked_as == "late" and not record.needs_review

    # A minute later the same face in another room: the earlier mark is no longer trusted.
    ingest(CameraFactory(room=other_room), photo_bytes("obama_480p.jpg"), captured_at=start + dt.timedelta(minutes=1))
    record.refresh_from_db()
    assert (record.status, record.needs_review) == ("unverified", True)
    assert "two rooms" in record.note
    assert record.changes.filter(from_status=marked_as, to_status="unverified", changed_by=None).exists()
    assert AttendanceRecord.objects.get(session=other_session, student=enrolled_obama).needs_review

    # Well after the conflict window, strong sightings in the first room change nothing by themselves.
    later = start + dt.timedelta(seconds=settings.FACE_CONFLICT_WINDOW_SECONDS + 120)
    ingest(camera, moved("obama_480p.jpg", mark=7), captured_at=later)
    record.refresh_from_db()
    assert (record.status, record.needs_review) == ("unverified", True)

    # A person resolves it.
    mark_manually(session=session, student=enrolled_obama, status="present", by=admin_user,
                  reason="Checked the class list: he was here.")
    record.refresh_from_db()
    assert (record.status, record.needs_review, record.marked_by) == ("present", False, admin_user)


def test_duplicate_frame_is_processed_once(enrolled_obama, camera):
    from cameras.intake import receive_frame
    from cameras.tasks import process_frame

    data = photo_bytes("obama2.jpg")
    first = receive_frame(camera=camera, data=data, enqueue=False)
    again = receive_frame(camera=camera, data=data, enqueue=False)  # sent again before a worker took it
    assert again.duplicate and again.frame.pk == first.frame.pk
    process_frame.delay(first.frame.pk)
    process_frame.delay(again.frame.pk)
    # Sent a third time after processing (a device retrying): the same frame again, not processed anew.
    third = receive_frame(camera=camera, data=data, enqueue=False)
    assert third.duplicate and third.frame.pk == first.frame.pk
    assert Frame.objects.count() == 1
    assert FaceSighting.objects.count() == 1


def test_reprocessing_a_finished_frame_changes_nothing(enrolled_obama, camera):
    from cameras.tasks import process_frame

    frame = ingest(camera, photo_bytes("obama2.jpg"))
    assert process_frame.delay(frame.pk).result is None
    assert FaceSighting.objects.count() == 1
    frame.refresh_from_db()
    assert frame.attempts == 1


def test_static_scene_is_dropped_at_intake_and_leaves_nothing_stored(enrolled_obama, camera):
    from prometheus_client import REGISTRY

    skipped_before = REGISTRY.get_sample_value("campus_frames_skipped_total", {"reason": "no_motion"}) or 0.0
    image = read_rgb("obama_480p.jpg")
    first = ingest(camera, jpeg(image, quality=90))
    assert first.state == FrameState.DONE
    files = stored_names()
    # Same scene, different bytes (another JPEG quality): not a duplicate, but nothing moved.
    second = ingest(camera, jpeg(image, quality=80), captured_at=timezone.now() + dt.timedelta(seconds=1))
    assert second is None
    assert Frame.objects.count() == 1
    assert FaceSighting.objects.count() == 1
    assert stored_names() == files
    assert REGISTRY.get_sample_value("campus_frames_skipped_total", {"reason": "no_motion"}) == skipped_before + 1


def test_scene_that_changed_is_not_dropped_by_the_gate(enrolled_obama, camera):
    ingest(camera, photo_bytes("obama_480p.jpg"))
    moved = ingest(camera, photo_bytes("biden.jpg"), captured_at=timezone.now() + dt.timedelta(seconds=1))
    assert moved is not None and moved.state == FrameState.DONE
    assert moved.motion is not None and moved.motion > 0.5


def test_static_camera_is_looked_at_again_after_the_longest_skip(enrolled_obama, camera, settings):
    settings.FRAME_MOTION_MAX_SKIP_SECONDS = 10
    image = read_rgb("obama_480p.jpg")
    ingest(camera, jpeg(image, quality=90))
    later = ingest(camera, jpeg(image, quality=80), captured_at=timezone.now() + dt.timedelta(seconds=11))
    assert later.state == FrameState.DONE


def test_recognised_face_in_the_next_frame_is_tracked_not_embedded(enrolled_obama, camera, embed_calls):
    calls = embed_calls
    start = timezone.now()
    ingest(camera, moved("obama_480p.jpg", mark=1), captured_at=start)
    second = ingest(camera, moved("obama_480p.jpg", mark=2), captured_at=start + dt.timedelta(seconds=1))
    assert calls == [1]  # only the first frame was embedded
    sighting = second.sightings.get()
    assert sighting.tracked is True
    assert sighting.student == enrolled_obama


def test_a_track_does_not_outlive_a_change_of_the_gallery(enrolled_obama, camera, embed_calls):
    from cameras.recognition import GALLERY_VERSION_KEY

    calls = embed_calls
    start = timezone.now()
    ingest(camera, moved("obama_480p.jpg", mark=1), captured_at=start)
    # An enrolment changed (or a student was erased) between the two frames.
    from django.core.cache import cache

    cache.set(GALLERY_VERSION_KEY, "another-version", None)
    second = ingest(camera, moved("obama_480p.jpg", mark=2), captured_at=start + dt.timedelta(seconds=1))
    assert calls == [1, 1]  # matched afresh, not carried over by the old track
    assert second.sightings.get().tracked is False


def test_corrupt_stored_frame_is_marked_failed_with_reason(enrolled_obama, camera):
    from django.core.files.base import ContentFile

    from cameras.tasks import process_frame

    data = photo_bytes("obama2.jpg")
    frame = Frame.objects.create(camera=camera, captured_at=timezone.now(), sha256="x" * 64)
    frame.image.save("broken.jpg", ContentFile(data[:300]), save=True)
    process_frame.delay(frame.pk)
    frame.refresh_from_db()
    assert frame.state == FrameState.FAILED
    assert frame.reason
    assert not FaceSighting.objects.exists()


def test_transient_error_is_retried_then_the_frame_completes(enrolled_obama, camera, monkeypatch):
    from django.db import OperationalError

    from cameras import pipeline
    from cameras.intake import receive_frame
    from cameras.tasks import process_frame

    frame = receive_frame(camera=camera, data=photo_bytes("obama2.jpg"), enqueue=False).frame
    original = pipeline.open_session_for
    failures = []

    def flaky(room_id, at):
        if not failures:
            failures.append(1)
            raise OperationalError("connection lost")
        return original(room_id, at)

    monkeypatch.setattr(pipeline, "open_session_for", flaky)
    # Eager Celery raises Retry to the caller instead of queueing; run the retry as the broker would.
    with pytest.raises(Retry):
        process_frame.delay(frame.pk)
    frame.refresh_from_db()
    assert frame.state == FrameState.PENDING
    process_frame.delay(frame.pk)
    frame.refresh_from_db()
    assert failures == [1]
    assert frame.state == FrameState.DONE
    assert frame.attempts == 2
    assert frame.sightings.count() == 1


def test_redis_going_away_mid_processing_leaves_the_frame_waiting_not_failed(enrolled_obama, camera, settings):
    from django.core.cache import caches

    from cameras.intake import receive_frame
    from cameras.tasks import process_frame

    frame = receive_frame(camera=camera, data=photo_bytes("obama2.jpg"), enqueue=False).frame
    reachable = settings.CACHES
    settings.CACHES = {"default": {**reachable["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    caches["default"].close()
    with pytest.raises(Retry):
        process_frame.delay(frame.pk)
    frame.refresh_from_db()
    assert (frame.state, frame.attempts) == (FrameState.PENDING, 1)
    assert "ConnectionError" in frame.reason

    settings.CACHES = reachable
    caches["default"].close()
    process_frame.delay(frame.pk)
    frame.refresh_from_db()
    assert frame.state == FrameState.DONE
    assert frame.sightings.get().student == enrolled_obama


def test_frame_failing_every_attempt_is_marked_failed_and_stops(enrolled_obama, camera, monkeypatch, settings):
    from django.db import OperationalError

    from cameras import pipeline
    from cameras.intake import receive_frame
    from cameras.tasks import process_frame

    settings.FRAME_MAX_ATTEMPTS = 3
    frame = receive_frame(camera=camera, data=photo_bytes("obama2.jpg"), enqueue=False).frame

    def always(room_id, at):
        raise OperationalError("database down")

    monkeypatch.setattr(pipeline, "open_session_for", always)
    retries = 0
    for _ in range(10):
        try:
            process_frame.delay(frame.pk)
        except Retry:
            retries += 1
            continue
        break
    assert retries == 2
    frame.refresh_from_db()
    assert frame.state == FrameState.FAILED
    assert "OperationalError" in frame.reason
    assert frame.attempts == 3


def test_consent_withdrawn_after_gallery_load_stops_face_marking(enrolled_obama, camera, settings):
    settings.FACE_STRONG_MATCH_DISTANCE = 0.0
    start = timezone.now()
    first = ingest(camera, moved("obama2.jpg", mark=1), captured_at=start)
    assert first.sightings.get().student == enrolled_obama
    enrolled_obama.face_consent_at = None
    enrolled_obama.save()
    second = ingest(camera, moved("obama2.jpg", mark=2), captured_at=start + dt.timedelta(seconds=5))
    sighting = second.sightings.get()
    assert sighting.student is None
    assert sighting.match_reason == "no_consent"
    assert not AttendanceRecord.objects.exists()


def lecture_hall_frame(face_px: int) -> bytes:
    """A 1920x1080 frame with Obama's face `face_px` wide: a student far from the camera."""
    from cameras.engine import detect_faces

    portrait = read_rgb("obama2.jpg")
    box = detect_faces(portrait, max_side=0)[0].box
    scale = face_px / box.width
    small = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((1080, 1920, 3), 120, np.uint8)
    canvas[400 : 400 + small.shape[0], 800 : 800 + small.shape[1]] = small
    return jpeg(canvas)


@pytest.mark.parametrize(("detect_max_side", "found"), [(None, 0), (0, 1), (1920, 1)])
def test_camera_detect_size_decides_whether_a_small_face_is_found(enrolled_obama, camera, detect_max_side, found):
    # FACE_DETECT_MAX_SIDE is 960: a 90-px face in 1080p shrinks to 45 px, below what HOG finds.
    camera.detect_max_side = detect_max_side
    camera.save(update_fields=["detect_max_side"])
    frame = ingest(camera, lecture_hall_frame(90))
    assert frame.state == FrameState.DONE
    assert frame.faces_detected == found
    assert [s.student for s in frame.sightings.all()] == [enrolled_obama] * found


# --- Tracking never hides evidence; the earliest sighting dates the record; session-keyed memory ---


def lecture_in(room, start, *, minutes=60):
    from attendance.choices import SessionStatus
    from attendance.tests.factories import ClassSessionFactory

    return ClassSessionFactory(
        room=room, date=timezone.localdate(start), scheduled_start=start,
        scheduled_end=start + dt.timedelta(minutes=minutes), status=SessionStatus.OPEN, opened_at=start,
    )


def test_independent_sightings_embedded_always_count_tracked_only_when_far_apart():
    from cameras.pipeline import independent_times

    t0 = timezone.now()
    at = [t0 + dt.timedelta(seconds=s) for s in (0, 1, 2, 10)]
    # Two embedded frames a second apart are two pieces of evidence.
    assert independent_times([(at[0], False), (at[1], False)], gap=3) == [at[0], at[1]]
    # A tracked sighting close to a counted one is the same evidence again; far away, it counts.
    assert independent_times([(at[0], False), (at[2], True)], gap=3) == [at[0]]
    assert independent_times([(at[0], False), (at[2], True), (at[3], True)], gap=3) == [at[0], at[3]]


def test_a_face_awaiting_consensus_is_embedded_again_on_the_next_frame_and_then_marked(
    lone_obama, other_room, settings, embed_calls
):
    from cameras.tests.conftest import enrol_in

    settings.FACE_STRONG_MATCH_DISTANCE = 0.0  # consensus only
    start = timezone.now().replace(microsecond=0)
    enrol_in(lecture_in(other_room, start - dt.timedelta(minutes=5)), lone_obama)
    camera = CameraFactory(room=other_room)
    calls = embed_calls
    # Two seconds apart (a camera's interval), well inside the track gap of 3 s.
    first = ingest(camera, moved("obama2.jpg", mark=1), captured_at=start)
    second = ingest(camera, moved("obama2.jpg", mark=2), captured_at=start + dt.timedelta(seconds=2))
    assert calls == [1, 1]  # the unconfirmed track did not stand in for a real embedding
    assert first.sightings.get().outcome == SightingOutcome.AWAITING_CONSENSUS
    assert (second.sightings.get().tracked, second.sightings.get().outcome) == (False, SightingOutcome.MARKED)
    # Now confirmed: the next frame is served from the track.
    third = ingest(camera, moved("obama2.jpg", mark=3), captured_at=start + dt.timedelta(seconds=4))
    assert calls == [1, 1]
    assert third.sightings.get().tracked is True


def test_a_consensus_mark_is_dated_from_the_earliest_agreeing_sighting(lone_obama, other_room, settings):
    from cameras.tests.conftest import enrol_in

    settings.FACE_STRONG_MATCH_DISTANCE = 0.0
    settings.ATTENDANCE_LATE_AFTER_MINUTES = 10
    start = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=30)
    lecture = lecture_in(other_room, start)
    enrol_in(lecture, lone_obama)
    camera = CameraFactory(room=other_room)
    first = ingest(camera, moved("obama2.jpg", mark=1), captured_at=start + dt.timedelta(minutes=9, seconds=30))
    assert first.sightings.get().outcome == SightingOutcome.AWAITING_CONSENSUS
    ingest(camera, moved("obama2.jpg", mark=2), captured_at=start + dt.timedelta(minutes=10, seconds=30))
    record = AttendanceRecord.objects.get(student=lone_obama, session=lecture)
    assert record.status == "present"
    assert record.first_seen_at == start + dt.timedelta(minutes=9, seconds=30)
    assert record.last_seen_at == start + dt.timedelta(minutes=10, seconds=30)


def test_a_sighting_in_the_next_class_in_the_same_room_marks_that_class(lone_obama, other_room, settings):
    from cameras.tests.conftest import enrol_in

    settings.FACE_STRONG_MATCH_DISTANCE = 0.2  # obama_480p is ~0.08 away: every frame marks at once
    change = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=5)
    earlier = lecture_in(other_room, change - dt.timedelta(minutes=60))
    next_class = lecture_in(other_room, change)
    enrol_in(earlier, lone_obama)
    enrol_in(next_class, lone_obama)
    camera = CameraFactory(room=other_room)
    ingest(camera, moved("obama_480p.jpg", mark=1), captured_at=change - dt.timedelta(seconds=30))
    assert AttendanceRecord.objects.filter(student=lone_obama, session=earlier).exists()
    # A minute later, in the first minute of the next class (inside FACE_MARK_REFRESH_SECONDS).
    frame = ingest(camera, moved("obama_480p.jpg", mark=2), captured_at=change + dt.timedelta(seconds=30))
    record = AttendanceRecord.objects.get(student=lone_obama, session=next_class)
    assert frame.sightings.get().record == record
    assert record.first_seen_at == change + dt.timedelta(seconds=30)
