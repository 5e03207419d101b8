"""The worker's frame metrics reach Prometheus: a real worker processes a real frame,
and its exporter shows what its child process counted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from .fault_tools import CeleryWorker, PrivateRedis, database_url_for, free_port, wait_until
from .test_faults import open_session_now

FACES = Path(__file__).resolve().parents[2] / "cameras" / "tests" / "fixtures" / "faces"


def scrape(port: int) -> dict[str, float]:
    samples = {}
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def metrics_worker(redis: PrivateRedis, *, port: int, metrics_dir: Path, name: str, **env: str) -> CeleryWorker:
    """A frames worker on the test database and `redis`, exporting its metrics from `metrics_dir` on `port`."""
    return CeleryWorker(
        {
            "DATABASE_URL": database_url_for(connection.settings_dict),
            "CELERY_BROKER_URL": redis.url(2),
            "REDIS_URL": redis.url(3),
            **env,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "CELERY_METRICS_PORT": str(port),
        },
        queues="frames",
        name=name,
    )


@pytest.mark.django_db(transaction=True)
def test_worker_exports_the_frame_metrics_its_children_count(settings, tmp_path):
    from attendance.models import AttendanceRecord
    from cameras.intake import receive_frame
    from cameras.models import Frame
    from cameras.services import enrol_face
    from cameras.tests.factories import CameraFactory
    from campus.tests.factories import EnrolmentFactory, RoomFactory, SectionFactory, StudentFactory

    from .fault_tools import app as celery_app

    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    room = RoomFactory()
    session = open_session_now(room=room, section=SectionFactory())
    student = StudentFactory(face_consent_at=timezone.now())
    EnrolmentFactory(section=session.section, student=student, enrolled_on=session.date - dt.timedelta(days=30))
    enrol_face(student=student, image_bytes=(FACES / "obama.jpg").read_bytes(), via="test")
    frame = receive_frame(camera=CameraFactory(room=room), data=(FACES / "obama_480p.jpg").read_bytes(),
                          enqueue=False).frame

    redis = PrivateRedis()
    redis.start()
    port = free_port()
    (tmp_path / "prom").mkdir()
    (tmp_path / "prom" / "counter_99999.db").write_bytes(b"stale file of an earlier run")
    worker = metrics_worker(
        redis, port=port, metrics_dir=tmp_path / "prom", name="metrics",
        CACHE_KEY_PREFIX="worker-metrics", FACE_CONSENSUS_SIGHTINGS="1", MEDIA_ROOT=str(media),
    )
    try:
        worker.start()
        worker.wait_ready()
        assert not (tmp_path / "prom" / "counter_99999.db").exists()  # an earlier run's counts are dropped
        before = scrape(port)
        assert before.get("campus_frames_processed_total", 0.0) == 0.0
        with celery_app.connection_for_write(redis.url(2)) as conn:
            celery_app.send_task("cameras.tasks.process_frame", args=[frame.pk], connection=conn)
        wait_until(
            lambda: Frame.objects.values_list("state", flat=True).get(pk=frame.pk) == "done",
            timeout=60, interval=0.2, what="the worker to process the frame",
        )
        wait_until(lambda: scrape(port).get("campus_frames_processed_total", 0.0) == 1.0, timeout=10,
                   what="the exporter to show the child's count")
        after = scrape(port)
        assert after["campus_faces_detected_total"] == 1.0
        assert after["campus_faces_recognised_total"] == 1.0
        assert after['campus_frame_stage_seconds_count{stage="detect"}'] == 1.0
        assert AttendanceRecord.objects.filter(student=student).count() == 1
    finally:
        worker.stop()
        redis.close()


@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_metrics_folder_is_missing_makes_it_and_serves(tmp_path):
    # What `make run` and compose hand the worker: a folder nothing has created yet.
    folder = tmp_path / "not" / "yet" / "there"
    redis = PrivateRedis()
    redis.start()
    port = free_port()
    worker = metrics_worker(redis, port=port, metrics_dir=folder, name="missing-folder")
    try:
        worker.start()
        worker.wait_ready()
        assert folder.is_dir()
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
    finally:
        worker.stop()
        redis.close()
