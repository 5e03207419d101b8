"""The long-running stream reader against an ffmpeg RTSP stream on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from cameras.models import Frame
from cameras.readers import CameraReader, has_live_reader
from cameras.services import create_camera
from cameras.tests.test_capture import free_port
from cameras.tests.videos import build_video

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)"),
]


def test_reader_keeps_the_stream_open_and_samples_at_the_interval(room, tmp_path, monkeypatch):
    video = tmp_path / "stream.mp4"
    build_video(video, ["obama_480p.jpg", "biden.jpg"], hold_seconds=2.5, move_seconds=0.3, fps=15)
    port = free_port()
    # See test_capture: Debian's ffmpeg connects to a listening reader instead of serving.
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_flags;listen|listen_timeout;20|rtsp_transport;tcp")
    camera = create_camera(name="stream", room=room, source_kind="rtsp", url=f"rtsp://127.0.0.1:{port}/live",
                           sample_interval_seconds=1)
    # Processing belongs to the Celery workers; eager Celery would run it inside the reader thread.
    queued = []
    monkeypatch.setattr("cameras.tasks.process_frame.delay", queued.append)
    stop = threading.Event()
    reader = CameraReader(camera.pk, stop)
    reader.start()
    time.sleep(0.5)
    feed = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i", str(video), "-c:v", "libx264", "-preset",
         "ultrafast", "-g", "15", "-pix_fmt", "yuv420p", "-rtsp_transport", "tcp", "-f", "rtsp",
         f"rtsp://127.0.0.1:{port}/live"],
        capture_output=True, timeout=60,
    )
    alive_while_streaming = has_live_reader(camera.pk)
    stop.set()
    reader.join(timeout=30)
    assert feed.returncode == 0, feed.stderr[-500:]
    assert alive_while_streaming
    # About 6 s of stream sampled every second: one open, several frames.
    assert 3 <= reader.frames_sent <= 8
    assert Frame.objects.filter(camera=camera).count() == reader.frames_sent
    assert sorted(queued) == sorted(Frame.objects.filter(camera=camera).values_list("pk", flat=True))
    camera.refresh_from_db()
    assert camera.last_frame_at is not None
