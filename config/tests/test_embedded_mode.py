"""Embedded mode (`make run` with no REDIS_URL) behaves like production: every process
shares one cache, so what one process counts or publishes, the others see.

Real processes only: gunicorn and Celery workers started as `make run` starts them,
with REDIS_URL empty (the disk cache in VAR_DIR). PostgreSQL is the test database and
a private Redis is only the broker, so the cache is the one thing under test.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import httpx
import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image, ImageOps

from .fault_tools import (
    FACES,
    CeleryWorker,
    ServedApp,
    bearer,
    database_url_for,
    enrol_photo,
    push_frame,
    push_photo_and_wait,
    wait_for_frame,
)
from .fault_tools import app as celery_app
from .test_faults import open_session_now

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def embedded_env(tmp_path):
    """The environment of `make run` with nothing configured, on the test database."""
    return {
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "REDIS_URL": "",  # empty = not set: the embedded disk cache
        "VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DEBUG": "1",
    }


@pytest.fixture
def broker(private_redis):
    return private_redis.url(0)


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_the_login_limit_holds_across_two_gunicorn_workers(embedded_env):
    env = {**embedded_env, "ACCOUNTS_LOGIN_RATE_PER_IP": "5/h", "ACCOUNTS_LOGIN_RATE_PER_USERNAME": "5/h"}
    # The access log names the worker process (pid) that answered each request.
    with ServedApp(env, workers=2, threads=2, args=("--access-logfile", "-", "--access-logformat",
                                                     "served-by %(p)s %(s)s %(U)s")) as app:
        statuses = []
        for _ in range(12):
            # A new connection each time, so the kernel hands them to either worker.
            response = httpx.post(f"{app.base_url}/api/v1/auth/login",
                                  json={"username": "nobody", "password": "wrong-password-1"}, timeout=10)
            statuses.append(response.status_code)
        log = app.log.read_text()
    assert statuses == [401] * 5 + [429] * 7
    workers = set(re.findall(r"served-by <(\d+)> \d{3} /api/v1/auth/login", log))
    assert len(workers) == 2, f"one worker answered everything; the test proves nothing: {log[-2000:]}"


def test_a_running_worker_honours_an_erasure_on_its_very_next_frame(embedded_env, broker, admin_user):
    from cameras.models import FaceSighting, Frame
    from cameras.tests.factories import CameraFactory
    from campus.tests.factories import EnrolmentFactory, RoomFactory, SectionFactory, StudentFactory

    room = RoomFactory()
    session = open_session_now(room=room, section=SectionFactory())
    student = StudentFactory(face_consent_at=timezone.now())
    EnrolmentFactory(section=session.section, student=student, enrolled_on=session.date - dt.timedelta(days=30))
    camera = CameraFactory(room=room, source_kind="push")
    env = {**embedded_env, "CELERY_BROKER_URL": broker, "FACE_CONSENSUS_SIGHTINGS": "1"}
    auth = bearer(admin_user)

    worker = CeleryWorker(env, queues="frames", name="erasure")
    with ServedApp(env) as web:
        worker.start()
        try:
            def push(name: str) -> Frame:
                return push_photo_and_wait(web, camera_id=camera.pk, auth=auth, photo=name, timeout=90)

            enrol_photo(web, student_id=student.pk, auth=auth)
            worker.wait_ready()
            first = push("obama_480p.jpg")
            assert FaceSighting.objects.filter(frame=first, student=student).exists()  # the worker knows the face

            erased = httpx.post(f"{web.base_url}/api/v1/students/{student.pk}/faces/erase", headers=auth, timeout=30)
            assert erased.status_code == 200, erased.text

            second = push("obama2.jpg")  # the same person, a changed scene
            assert second.faces_detected >= 1
            assert not FaceSighting.objects.filter(frame=second, student__isnull=False).exists()
        finally:
            worker.stop()


def test_a_changed_frame_is_not_dropped_because_another_process_saw_another_frame(embedded_env, broker, admin_user):
    from cameras.models import Frame
    from cameras.tests.factories import CameraFactory

    camera = CameraFactory(source_kind="push")
    # A static scene is skipped for up to this long; long enough that only the cache decides here.
    env = {**embedded_env, "CELERY_BROKER_URL": broker, "FRAME_MOTION_MAX_SKIP_SECONDS": "600"}
    scene = Image.open(FACES / "obama_480p.jpg").convert("RGB")
    scene_a, scene_b, scene_a_again = jpeg(scene), jpeg(ImageOps.mirror(scene)), jpeg(scene, quality=70)
    auth = bearer(admin_user)
    # Two worker processes, each on its own queue, so the test decides which one sees which frame.
    first = CeleryWorker(env, queues="frames-a", name="motion-a")
    second = CeleryWorker(env, queues="frames-b", name="motion-b")
    with ServedApp(env) as web:
        first.start()
        second.start()
        try:
            first.wait_ready()
            second.wait_ready()

            def process(data: bytes, queue: str) -> Frame:
                frame_id = push_frame(web, camera_id=camera.pk, auth=auth, data=data)  # stored: the scene changed
                with celery_app.connection_for_write(broker) as conn:
                    celery_app.send_task("cameras.tasks.process_frame", args=[frame_id], queue=queue,
                                         connection=conn)
                return wait_for_frame(frame_id, timeout=90, what=f"a worker on {queue} to process frame {frame_id}")

            assert process(scene_a, "frames-a").state == "done"
            assert process(scene_b, "frames-b").state == "done"
            # Scene A again: unchanged for the first worker's own memory, changed since the last
            # processed frame (B), which is what the gate must compare with.
            again = process(scene_a_again, "frames-a")
            assert (again.state, again.reason) == ("done", "")
        finally:
            first.stop()
            second.stop()
