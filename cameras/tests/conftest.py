"""Fixtures of the cameras tests: real face photos, an open session with enrolled students, cameras."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.utils import timezone

from attendance.choices import SessionStatus
from attendance.tests.factories import ClassSessionFactory
from cameras import pipeline
from campus.tests.factories import EnrolmentFactory, RoomFactory, SectionFactory, StudentFactory

from .factories import CameraFactory

FIXTURES = Path(__file__).parent / "fixtures" / "faces"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "faces"


def photo_path(name: str) -> Path:
    local = FIXTURES / name
    return local if local.exists() else SHARED / name


def photo_bytes(name: str) -> bytes:
    return photo_path(name).read_bytes()


def read_rgb(name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(photo_path(name))), cv2.COLOR_BGR2RGB)


def jpeg(image_rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def no_face_photo() -> bytes:
    """A real photo with no face in it: the lower part of biden.jpg (suit and hands)."""
    image = read_rgb("biden.jpg")
    return jpeg(image[image.shape[0] // 2 :, :])


@pytest.fixture(autouse=True)
def _isolated_media_and_memory(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    pipeline.reset_memory()  # the gallery is forgotten for every test in the root conftest
    yield
    pipeline.reset_memory()


@pytest.fixture
def room(db):
    return RoomFactory()


@pytest.fixture
def other_room(db):
    return RoomFactory()


def open_session(room, *, section=None):
    now = timezone.now()
    return ClassSessionFactory(
        room=room,
        section=section or SectionFactory(),
        date=timezone.localdate(now),
        scheduled_start=now - dt.timedelta(minutes=10),
        scheduled_end=now + dt.timedelta(minutes=50),
        status=SessionStatus.OPEN,
        opened_at=now - dt.timedelta(minutes=15),
    )


@pytest.fixture
def session(room):
    return open_session(room)


def consenting_student(**kwargs):
    return StudentFactory(face_consent_at=timezone.now(), **kwargs)


def enrol_in(session, *students):
    for student in students:
        EnrolmentFactory(section=session.section, student=student,
                         enrolled_on=session.date - dt.timedelta(days=30))


@pytest.fixture
def obama(session):
    student = consenting_student(first_name="Barack", last_name="Obama")
    enrol_in(session, student)
    return student


@pytest.fixture
def biden(session):
    student = consenting_student(first_name="Joe", last_name="Biden")
    enrol_in(session, student)
    return student


@pytest.fixture
def enrolled_obama(obama, django_capture_on_commit_callbacks):
    from cameras.services import enrol_face

    # on_commit runs the gallery version bump, as it would after a real commit.
    with django_capture_on_commit_callbacks(execute=True):
        enrol_face(student=obama, image_bytes=photo_bytes("obama.jpg"), via="test")
    return obama


@pytest.fixture
def lone_obama(db, django_capture_on_commit_callbacks):
    """Obama enrolled (obama.jpg), in no section yet: the test puts him in its own sessions."""
    from cameras.services import enrol_face

    student = consenting_student(first_name="Barack", last_name="Obama")
    with django_capture_on_commit_callbacks(execute=True):
        enrol_face(student=student, image_bytes=photo_bytes("obama.jpg"), via="test")
    return student


def ingest(camera, data: bytes, *, captured_at=None):
    """Receive a frame as the push endpoint does and process it as the worker does."""
    from cameras.intake import receive_frame
    from cameras.models import Frame
    from cameras.tasks import process_frame

    receipt = receive_frame(camera=camera, data=data, captured_at=captured_at, enqueue=False)
    if receipt.frame is None:  # dropped by the motion gate at intake
        return None
    if receipt.queued:
        process_frame.delay(receipt.frame.pk)
    return Frame.objects.get(pk=receipt.frame.pk)


@pytest.fixture
def camera(room):
    return CameraFactory(room=room)
