"""Replay a video file or a folder of images through the frame pipeline, as if the camera had sent it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import cv2
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from cameras.choices import FrameSource, FrameState, SightingOutcome
from cameras.engine import get_engine
from cameras.engine import images as engine_images
from cameras.frames import claim_frame, fail_frame
from cameras.intake import receive_frame
from cameras.models import Camera, FaceSighting
from cameras.pipeline import PermanentFrameError, process_frame_data
from config.exceptions import DomainError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def find_camera(value: str) -> Camera:
    camera = Camera.objects.select_related("room").filter(pk=int(value)).first() if value.isdigit() else None
    camera = camera or Camera.objects.select_related("room").filter(name=value).first()
    if camera is None:
        raise CommandError(f"No camera with id or name {value!r}.")
    return camera


def video_frames(path: Path):
    """(seconds into the video, BGR frame) for every frame, and the frame count (0 if unknown)."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise CommandError(f"OpenCV cannot open {path} as a video.")
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    def generate():
        index = 0
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield index / fps, frame
                index += 1
        finally:
            capture.release()

    return generate(), total


def folder_frames(path: Path, fps: float):
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CommandError(f"No .jpg/.jpeg/.png images in {path}.")

    def generate():
        for index, file in enumerate(files):
            yield index / fps, file.read_bytes()

    return generate(), len(files)


class Command(BaseCommand):
    help = (
        "Replay a video file or an image folder through the same pipeline as live frames "
        "(motion gate, detection, tracking, matching, consensus, attendance), then print a summary."
    )

    def add_arguments(self, parser):
        parser.add_argument("camera", help="Camera id or name whose room the frames come from.")
        parser.add_argument("path", help="A video file (anything OpenCV reads) or a folder of images.")
        parser.add_argument(
            "--every", type=float, default=None,
            help="Seconds of video between frames sent to the pipeline (default: the camera's sampling "
                 "interval; 0 = every frame).",
        )
        parser.add_argument("--start", help="Capture time of the first frame (ISO 8601; default: now).")
        parser.add_argument("--fps", type=float, default=1.0, help="Frame rate of an image folder (default 1).")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, camera: str, path: str, every, start, fps, no_progress, **options):
        cam = find_camera(camera)
        source = Path(path)
        if not source.exists():
            raise CommandError(f"{source} does not exist.")
        started_at = timezone.now()
        if start:
            started_at = parse_datetime(start)
            if started_at is None:
                raise CommandError(f"--start {start!r} is not an ISO 8601 date and time.")
            if timezone.is_naive(started_at):
                started_at = timezone.make_aware(started_at)
        every = cam.sample_interval_seconds if every is None else every
        if every < 0:
            raise CommandError("--every cannot be negative.")
        summary = replay(
            camera=cam, source=source, start=started_at, every=every, fps=fps, progress=not no_progress,
        )
        names = ", ".join(summary.pop("students_marked_names")) or "none"
        summary.pop("students_marked_ids")
        self.stdout.write(
            "frames {frames_read}, sent {frames_sent}, processed {frames_processed}, "
            "skipped (no motion) {frames_skipped}, duplicates {duplicates}, failed {frames_failed}; "
            "faces {faces}, recognised {recognised}, unknown {unknown}; students marked {students_marked} "
            "({names}); {seconds:.1f} s, {frames_per_second:.1f} frames/s".format(names=names, **summary)
        )
        if summary["frames_failed"] and not summary["frames_processed"]:
            raise CommandError("Every frame failed.")


def replay(*, camera: Camera, source: Path, start: datetime, every: float | None, fps: float = 1.0,
           progress: bool = True) -> dict:
    """The work of the command, callable from benchmarks and tests (`every=None`: the camera's interval)."""
    every = camera.sample_interval_seconds if every is None else every
    engine = get_engine()
    frames, total = folder_frames(source, fps) if source.is_dir() else video_frames(source)
    counts = dict.fromkeys(
        ["frames_read", "frames_sent", "frames_processed", "frames_skipped", "duplicates", "frames_failed",
         "faces", "recognised", "unknown", "tracked"], 0,
    )
    marked: set[int] = set()
    next_due = 0.0
    clock = time.perf_counter()
    for offset, item in tqdm(frames, total=total or None, disable=not progress, unit="frame"):
        counts["frames_read"] += 1
        if offset + 1e-6 < next_due:
            continue
        next_due = offset + every
        data = item if isinstance(item, bytes) else engine_images.encode_jpeg(engine_images.from_bgr(item))
        counts["frames_sent"] += 1
        try:
            receipt = receive_frame(
                camera=camera, data=data, captured_at=start + timedelta(seconds=offset),
                source=FrameSource.REPLAY, store=False, enqueue=False,
            )
        except DomainError:
            counts["frames_failed"] += 1
            continue
        if receipt.frame is None:  # the motion gate at intake
            counts["frames_skipped"] += 1
            continue
        if receipt.duplicate:
            counts["duplicates"] += 1
            continue
        claimed = claim_frame(receipt.frame.pk)
        if claimed is None:
            continue
        try:
            report = process_frame_data(claimed, data, engine=engine)
        except PermanentFrameError as exc:
            fail_frame(claimed, str(exc))
            counts["frames_failed"] += 1
            continue
        if report.state == FrameState.SKIPPED:
            counts["frames_skipped"] += 1
            continue
        counts["frames_processed"] += 1
        counts["faces"] += len(report.faces)
        counts["recognised"] += report.recognised
        counts["unknown"] += report.unknown
        counts["tracked"] += sum(1 for face in report.faces if face.tracked)
        marked.update(report.marked)
    seconds = time.perf_counter() - clock
    students = (
        FaceSighting.objects.filter(student_id__in=marked, outcome=SightingOutcome.MARKED)
        .values_list("student__first_name", "student__last_name").distinct()
    )
    return {
        **counts,
        "students_marked": len(marked),
        "students_marked_ids": sorted(marked),
        "students_marked_names": sorted(f"{first} {last}".strip() for first, last in students),
        "seconds": seconds,
        "frames_per_second": counts["frames_read"] / seconds if seconds else 0.0,
    }
