"""Web and the frame worker share no disk (issue 17): real gunicorn and a real Celery worker,
each with its own MEDIA_ROOT and VAR_DIR, as on two machines.

A photo enrolled through web, a frame pushed to web, processed by the worker, the student
marked; the crop of a stranger the worker kept is served by web. Once with the default
storage (the database) and once with the production option, an S3-compatible server
(moto's, over loopback), as MinIO would be.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from .fault_tools import (
    S3_ACCESS_KEY,
    S3_REGION,
    S3_SECRET_KEY,
    CeleryWorker,
    ServedApp,
    bearer,
    database_url_for,
    enrol_photo,
    push_photo_and_wait,
    s3_server,
)
from .test_faults import open_session_now

BUCKET = "campus-media"

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def s3_endpoint():
    with s3_server(BUCKET) as endpoint:
        yield endpoint


def storage_env(backend: str, request) -> dict[str, str]:
    if backend == "database":
        return {"STORAGE_BACKEND": "database"}
    endpoint = request.getfixturevalue("s3_endpoint")
    return {
        "STORAGE_BACKEND": "s3", "AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_S3_REGION_NAME": S3_REGION, "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
    }


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


@pytest.mark.parametrize("backend", ["database", "s3"])
def test_a_frame_pushed_to_web_is_processed_by_a_worker_on_another_disk(backend, request, tmp_path,
                                                                          private_redis, admin_user):
    from attendance.models import AttendanceRecord
    from cameras.models import FaceEnrolment, Frame, UnknownFace
    from cameras.tests.factories import CameraFactory
    from campus.tests.factories import EnrolmentFactory, RoomFactory, SectionFactory, StudentFactory

    room = RoomFactory()
    session = open_session_now(room=room, section=SectionFactory())
    student = StudentFactory(face_consent_at=timezone.now())
    EnrolmentFactory(section=session.section, student=student, enrolled_on=session.date - dt.timedelta(days=30))
    camera = CameraFactory(room=room, source_kind="push")
    common = {
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "CELERY_BROKER_URL": private_redis.url(0), "REDIS_URL": private_redis.url(1),
        "CACHE_KEY_PREFIX": f"disk-{backend}",
        "DEBUG": "1", "FACE_CONSENSUS_SIGHTINGS": "1", "FACE_ENROLMENT_PHOTO_RETENTION_DAYS": "30",
        **storage_env(backend, request),
    }
    web_disk, worker_disk = tmp_path / "web", tmp_path / "worker"
    web_env = {**common, "MEDIA_ROOT": str(web_disk / "media"), "VAR_DIR": str(web_disk / "var")}
    worker_env = {**common, "MEDIA_ROOT": str(worker_disk / "media"), "VAR_DIR": str(worker_disk / "var")}
    auth = bearer(admin_user)

    worker = CeleryWorker(worker_env, queues="frames", name=f"disk-{backend}")
    web = ServedApp(web_env).start(timeout=120)  # a loaded 2-core machine: importing boto3 is not instant
    worker.start()
    try:
        def push(name: str) -> Frame:
            return push_photo_and_wait(web, camera_id=camera.pk, auth=auth, photo=name, timeout=120)

        enrol_photo(web, student_id=student.pk, auth=auth)
        assert FaceEnrolment.objects.get(student=student).photo  # kept 30 days, in the storage
        worker.wait_ready()

        frame = push("obama_480p.jpg")
        assert (frame.state, frame.reason, frame.image.name) == ("done", "", "")  # processed, bytes released
        record = AttendanceRecord.objects.get(student=student, session=session)
        assert record.status in {"present", "late"}

        stranger = push("biden.jpg")  # nobody enrolled: the worker keeps a crop for review
        assert stranger.state == "done"
        unknown = UnknownFace.objects.get(sighting__frame=stranger)
        crop = httpx.get(f"{web.base_url}/api/v1/unknown-faces/{unknown.pk}/crop", headers=auth, timeout=30)
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
        assert crop.content[:2] == b"\xff\xd8"  # the worker's JPEG, read by web
    finally:
        worker.stop()
        web.stop()
    # Neither process wrote a file of its own: the bytes live where both reach them.
    assert files_under(web_disk / "media") == [] and files_under(worker_disk / "media") == []
