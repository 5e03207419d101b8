"""ingest_video against the bare engine on every frame of a 640x360, 30 fps classroom video.

    .venv/bin/python bench/bench_ingest.py [--faces ../shared/faces] [--seconds-per-still 2]

The video is built from the shared stills (each slides in, then holds still: people
walk in, then sit). The bare engine (`bench_engine.bare_engine_run`: decode + detect
+ embed) runs on every frame and a student counts as marked when any frame matches
them (same threshold and margin as the pipeline). `ingest_video`'s replay runs the
same video through the full pipeline (sampling at the camera's interval, motion
gate, tracking, matching, consensus, database): once at the camera's sampling
interval and once on every frame. Prints frames/s, the speed-up and both sets of
students. Writes are rolled back.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._django import setup_django

setup_django()

import cv2  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench._campus_setup import Rollback, make_campus  # noqa: E402
from bench._video import jpeg_frames  # noqa: E402
from bench.bench_engine import DEFAULT_FACES, bare_engine_run  # noqa: E402
from cameras import pipeline  # noqa: E402
from cameras.engine import get_engine  # noqa: E402
from cameras.management.commands.ingest_video import replay  # noqa: E402
from cameras.recognition import current_gallery  # noqa: E402
from cameras.tests.videos import build_video  # noqa: E402

STILLS = ["obama_480p.jpg", "biden.jpg", "obama_and_biden.jpg", "obama2.jpg", "biden.jpg", "obama_480p.jpg"]


def bare_on_every_frame(video: Path, gallery) -> tuple[float, int, set[int]]:
    """(seconds of engine work, frames, students matched at least once). Video decode and JPEG encode
    are done first and not counted: the bare engine gets the same bytes the pipeline gets."""
    frames, _ = jpeg_frames(video)
    matched: set[int] = set()
    started = time.perf_counter()
    for data in frames:
        for vector in bare_engine_run(data):
            match = gallery.match(vector, threshold=settings.FACE_MATCH_THRESHOLD, margin=settings.FACE_MATCH_MARGIN)
            if match.matched:
                matched.add(match.student_id)
    return time.perf_counter() - started, len(frames), matched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--seconds-per-still", type=float, default=2.0)
    parser.add_argument("--interval", type=float, default=1.0, help="the camera's sampling interval (s)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    get_engine()
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "class.mp4"
        total = build_video(video, STILLS, hold_seconds=args.seconds_per_still, move_seconds=0.5, fps=30)
        results = {}
        try:
            with transaction.atomic():
                camera, ids = make_campus(args.faces, {"Obama": "obama.jpg", "Biden": "biden.jpg"})
                names = {pk: name for name, pk in ids.items()}
                gallery = current_gallery()
                bare_seconds, frames, bare_marked = bare_on_every_frame(video, gallery)
                for label, every in (("sampled", args.interval), ("every frame", 0.0)):
                    with transaction.atomic():
                        pipeline.reset_memory()
                        summary = replay(camera=camera, source=video, start=timezone.now(), every=every,
                                         progress=False)
                        results[label] = summary
                        transaction.set_rollback(True)
                raise Rollback
        except Rollback:
            pass
    print(f"video: {frames} frames ({total} written), 640x360 at 30 fps, {frames / 30:.0f} s; "
          f"stills {', '.join(STILLS)}\n")
    print("| run | frames/s | time (s) | speed-up vs bare | sent to pipeline | identical (deduplicated) "
          "| skipped by motion | detected | faces (tracked) | students marked |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| bare engine, every frame | {frames / bare_seconds:.1f} | {bare_seconds:.1f} | 1.0 | {frames} | - | - "
          f"| {frames} | - | {', '.join(sorted(names[i] for i in bare_marked)) or 'none'} |")
    for label, s in results.items():
        marked = ", ".join(sorted(names[i] for i in s["students_marked_ids"])) or "none"
        print(f"| ingest_video, {label} | {s['frames_per_second']:.1f} | {s['seconds']:.1f} "
              f"| {bare_seconds / s['seconds']:.1f} | {s['frames_sent']} | {s['duplicates']} | {s['frames_skipped']} "
              f"| {s['frames_processed']} | {s['faces']} ({s['tracked']}) | {marked} |")
    same = all(set(s["students_marked_ids"]) == bare_marked for s in results.values())
    print(f"\nsame students marked as the bare engine: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
