"""ingest_video and enroll_faces, on real photos and a video built from them."""

from __future__ import annotations

import re
import shutil

import pytest
from django.core.management import CommandError, call_command

from attendance.models import AttendanceRecord
from cameras.models import FaceEnrolment, FaceSighting, Frame
from cameras.tests.conftest import consenting_student, photo_path
from cameras.tests.videos import build_video

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_ingest_video_marks_the_right_student_once(enrolled_obama, biden, camera, tmp_path, capsys):
    video = tmp_path / "class.mp4"
    frames = build_video(video, ["biden.jpg", "obama2.jpg", "obama_480p.jpg"], hold_seconds=1.5)
    assert frames > 100
    call_command("ingest_video", str(camera.pk), str(video), "--every", "0.25", "--no-progress")
    out = capsys.readouterr().out
    assert f"frames {frames}," in out
    assert "students marked 1 (Barack Obama)" in out
    assert AttendanceRecord.objects.filter(student=enrolled_obama).count() == 1
    assert not AttendanceRecord.objects.filter(student=biden).exists()
    assert FaceSighting.objects.filter(student=enrolled_obama, outcome="marked").count() == 1
    # While the picture held still the motion gate dropped frames at intake, storing no row for them.
    counts = {key: int(value) for key, value in re.findall(r"(processed|skipped \(no motion\)) (\d+)", out)}
    assert counts["skipped (no motion)"] > 0
    assert Frame.objects.filter(camera=camera).count() == counts["processed"]


def test_ingest_image_folder(enrolled_obama, camera, tmp_path, capsys, settings):
    settings.FACE_STRONG_MATCH_DISTANCE = 0.0
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, name in enumerate(["obama2.jpg", "obama_480p.jpg", "biden.jpg"]):
        shutil.copy(photo_path(name), folder / f"{index:03d}.jpg")
    call_command("ingest_video", camera.name, str(folder), "--fps", "0.2", "--no-progress")
    out = capsys.readouterr().out
    assert "frames 3, sent 3, processed 3" in out
    assert AttendanceRecord.objects.filter(student=enrolled_obama).count() == 1


def test_ingest_video_unknown_camera_is_an_error(tmp_path, db):
    with pytest.raises(CommandError, match="No camera"):
        call_command("ingest_video", "nope", str(tmp_path))


def test_enroll_faces_reports_each_file_and_fails_on_bad_ones(tmp_path, capsys, db):
    obama = consenting_student(student_number="S-OBAMA")
    consenting_student(student_number="S-GROUP")
    (tmp_path / "S-OBAMA").mkdir()
    shutil.copy(photo_path("obama.jpg"), tmp_path / "S-OBAMA" / "a.jpg")
    (tmp_path / "S-GROUP").mkdir()
    shutil.copy(photo_path("obama_and_biden.jpg"), tmp_path / "S-GROUP" / "b.jpg")
    (tmp_path / "S-NOBODY").mkdir()
    shutil.copy(photo_path("biden.jpg"), tmp_path / "S-NOBODY" / "c.jpg")
    with pytest.raises(CommandError, match="2 photo"):
        call_command("enroll_faces", str(tmp_path), "--no-progress")
    out = capsys.readouterr().out
    assert "OK   S-OBAMA/a.jpg" in out
    assert "FAIL S-GROUP/b.jpg: 2 faces were found" in out
    assert "FAIL S-NOBODY/c.jpg: no student with number S-NOBODY" in out
    assert "enrolled 1 of 3 photos; 2 failed" in out
    assert list(FaceEnrolment.objects.values_list("student", flat=True)) == [obama.pk]


def test_enroll_faces_dry_run_saves_nothing(tmp_path, capsys, db):
    consenting_student(student_number="S1")
    (tmp_path / "S1").mkdir()
    shutil.copy(photo_path("obama.jpg"), tmp_path / "S1" / "a.jpg")
    call_command("enroll_faces", str(tmp_path), "--dry-run", "--no-progress")
    assert "would enrol 1 of 1 photos; 0 failed" in capsys.readouterr().out
    assert not FaceEnrolment.objects.exists()
