"""Edge devices pushing frames end to end: `simulate_devices --frames` against a live server."""

from __future__ import annotations

import json
import shutil

import pytest
from django.core.management import call_command

from cameras.models import FaceSighting, Frame
from cameras.services import enrol_face
from cameras.tests.conftest import consenting_student, enrol_in, open_session, photo_bytes, photo_path
from cameras.tests.factories import CameraFactory
from campus.tests.factories import RoomFactory
from devices.models import Device
from devices.services import provision_devices


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_simulated_device_pushes_frames_to_its_camera_and_they_are_recognised(live_server, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.FACE_STRONG_MATCH_DISTANCE = 0.2
    room = RoomFactory()
    session = open_session(room)
    student = consenting_student(first_name="Barack", last_name="Obama")
    enrol_in(session, student)
    enrol_face(student=student, image_bytes=photo_bytes("obama.jpg"), via="test")
    credentials = provision_devices(serials=["edge-1"])
    camera = CameraFactory(room=room, source_kind="push", device=Device.objects.get(serial="edge-1"))
    unbound = CameraFactory(room=room, source_kind="push")
    frames = tmp_path / "frames"
    frames.mkdir()
    shutil.copy(photo_path("obama_480p.jpg"), frames / "0.jpg")
    (tmp_path / "credentials.json").write_text(json.dumps(credentials))
    report = tmp_path / "report.json"

    call_command(
        "simulate_devices", "1", "--url", live_server.url, "--credentials", str(tmp_path / "credentials.json"),
        "--frames", str(frames), "--duration", "3", "--interval", "0.5", "--ramp-up", "0", "--report", str(report),
    )

    summary = json.loads(report.read_text())
    assert summary["errors"] == {} and summary["frames_pushed"] >= 1
    # The device knows its camera from its config and pushes there only; the picture is processed once.
    assert Frame.objects.filter(camera=unbound).count() == 0
    stored = Frame.objects.get(camera=camera)
    assert (stored.source, stored.state) == ("push", "done")
    assert FaceSighting.objects.get(frame=stored).student == student
    assert student.attendance_records.get().session == session
