"""The long-running stream reader, an RTSP client of a stream Debian's ffmpeg publishes on 127.0.0.1."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from cameras.models import Frame
from cameras.readers import CameraReader, has_live_reader
from cameras.services import create_camera
from cameras.tests.rtsp_server import RTSPRelay, ffmpeg_publishing
from cameras.tests.videos import build_video

pytestmark = pytest.mark.django_db(transaction=True)
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                  reason="ffmpeg is not installed (apt-get install ffmpeg)")


@pytest.mark.slow
@needs_ffmpeg
def test_reader_keeps_the_stream_open_and_samples_at_the_interval(room, tmp_path, monkeypatch):
    video = tmp_path / "stream.mp4"
    build_video(video, ["obama_480p.jpg", "biden.jpg"], hold_seconds=2.5, move_seconds=0.3, fps=15)
    relay = RTSPRelay(username="viewer", password="Reader-Pass-3").start()
    camera = create_camera(name="stream", room=room, source_kind="rtsp", url=relay.url(), username="viewer",
                           password="Reader-Pass-3", sample_interval_seconds=1)
    # Processing belongs to the Celery workers; eager Celery would run it inside the reader thread.
    queued = []
    monkeypatch.setattr("cameras.tasks.process_frame.delay", queued.append)
    stop = threading.Event()
    reader = CameraReader(camera.pk, stop)
    try:
        with ffmpeg_publishing(video, relay, tmp_path / "ffmpeg.log"):
            reader.start()
            deadline = time.monotonic() + 30
            while reader.frames_sent < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(4.5)  # four more sampling intervals on the open stream
            alive_while_streaming = has_live_reader(camera.pk)
            stop.set()
            reader.join(timeout=30)
    finally:
        stop.set()
        relay.stop()
    assert alive_while_streaming
    # One RTSP session for the whole run, a frame about every second.
    assert relay.plays == 1
    assert 3 <= reader.frames_sent <= 7
    assert Frame.objects.filter(camera=camera).count() == reader.frames_sent
    assert sorted(queued) == sorted(Frame.objects.filter(camera=camera).values_list("pk", flat=True))
    camera.refresh_from_db()
    assert camera.last_frame_at is not None and camera.status == "online"


def test_reader_waits_out_a_database_outage_instead_of_dying(room, monkeypatch):
    from django.db import OperationalError

    from cameras import readers

    monkeypatch.setattr(readers.CameraReader, "_camera", flaky(OperationalError("server closed the connection"),
                                                                 then=None))
    waits = []
    stop = threading.Event()
    monkeypatch.setattr(stop, "wait", waits.append)
    reader = CameraReader(12345, stop)
    reader.run()  # returns (the camera is gone) instead of raising
    assert waits == [2]


def test_reader_pool_keeps_running_when_a_rescan_fails(monkeypatch):
    from redis.exceptions import ConnectionError

    from cameras.readers import ReaderPool

    pool = ReaderPool()
    calls = []

    def sync():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("Redis went away")
        pool.stop.set()

    monkeypatch.setattr(pool, "sync", sync)
    pool.run(rescan_seconds=0)
    assert len(calls) == 2


def flaky(error: Exception, *, then):
    """A method that raises `error` on its first call and returns `then` afterwards."""
    calls = []

    def method(self):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return then

    return method
