"""The cameras pipeline, stage by stage, beside the bare engine on the same frames.

    .venv/bin/python bench/bench_pipeline.py [--faces ../shared/faces] [--repeat 5]

For each of the 480p, 720p and 1080p photos: milliseconds of each pipeline stage
(motion gate, decode, detect, track, embed, match, database), the pipeline's
total and frames per second on one core, and in the same loop the bare engine
(`bench_engine.bare_engine_run`: decode + detect + embed) on the same bytes, with
the ratio. Then a static scene (the same picture as new bytes, as the file is and
re-encoded at quality 80 as a camera sends it: the motion gate drops it at intake,
storing nothing) against the frame's detection. Needs PostgreSQL and Redis as for the tests;
everything it writes is rolled back.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._django import setup_django

setup_django()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench._campus_setup import Rollback, make_campus  # noqa: E402
from bench.bench_engine import DEFAULT_FACES, FRAMES, bare_engine_run  # noqa: E402
from cameras import pipeline  # noqa: E402
from cameras.engine import get_engine  # noqa: E402
from cameras.engine import images as engine_images  # noqa: E402
from cameras.frames import claim_frame  # noqa: E402
from cameras.intake import receive_frame  # noqa: E402
from cameras.pipeline import STAGES, process_frame_data  # noqa: E402


def run_pipeline(camera, data: bytes, *, fresh: bool = True) -> tuple[float, dict[str, float], str]:
    """One frame through receive + claim + every stage; (total ms, per-stage ms, final state)."""
    if fresh:  # a new scene: no motion baseline, no tracks, so every stage runs
        cache.delete(f"cameras:motion:{camera.pk}")
        pipeline.tracker().forget()
    started = time.perf_counter()
    receipt = receive_frame(camera=camera, data=data, captured_at=timezone.now(), store=False, enqueue=False)
    received = time.perf_counter()
    if receipt.frame is None:  # dropped at intake by the motion gate: no row, and no worker ever sees it
        return 0.0, {"receive": (received - started) * 1000}, receipt.state
    claimed = claim_frame(receipt.frame.pk)
    report = process_frame_data(claimed, data)
    done = time.perf_counter()
    stages = dict(report.timings_ms)
    stages["receive"] = (received - started) * 1000
    # The worker's own database work outside the stages (claim, and the state write of a skipped frame).
    stages["database"] = stages.get("database", 0.0) + (done - received) * 1000 - sum(report.timings_ms.values())
    return (done - received) * 1000, stages, report.state


def variant(data: bytes, index: int) -> bytes:
    """The same picture as new bytes (a JPEG comment with a counter), so the duplicate check lets it through."""
    comment = f"bench frame {index}".encode()
    return data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    get_engine()
    rows = []
    try:
        with transaction.atomic():
            camera, _ = make_campus(args.faces, {"Obama": "obama.jpg", "Biden": "biden.jpg"})
            counter = 0
            for name in FRAMES:
                data = (args.faces / name).read_bytes()
                bare_runs, pipe_runs, stage_runs = [], [], []
                bare_engine_run(data)  # warm-up
                for _ in range(args.repeat):
                    counter += 1
                    started = time.perf_counter()
                    bare_engine_run(data)
                    bare_runs.append((time.perf_counter() - started) * 1000)
                    total, stages, state = run_pipeline(camera, variant(data, counter))
                    assert state == "done", state
                    pipe_runs.append(total)
                    stage_runs.append(stages)
                best = int(np.argmin(pipe_runs))
                # Static scene: the same picture again as new bytes; the motion gate drops it at intake.
                # Once as the file is, once re-encoded at quality 80 as a camera would send it.
                static = {}
                as_camera = engine_images.encode_jpeg(engine_images.decode_image(data, max_pixels=10**8), 80)
                for label, picture in (("file", data), ("q80", as_camera)):
                    counter += 1
                    run_pipeline(camera, variant(picture, counter))  # the processed frame the gate compares with
                    runs = []
                    for _ in range(args.repeat):
                        counter += 1
                        total, stages, state = run_pipeline(camera, variant(picture, counter), fresh=False)
                        assert state == "skipped", state
                        runs.append(total + stages["receive"])
                    static[label] = min(runs)
                rows.append({
                    "frame": name,
                    "stages": stage_runs[best],
                    "pipeline": pipe_runs[best],
                    "bare": min(bare_runs),
                    "static": static,
                })
            raise Rollback
    except Rollback:
        pass
    order = ["receive", *STAGES]
    print(f"one thread; best of {args.repeat} runs, wall-clock ms; pipeline and bare engine interleaved")
    print("`receive` is the push request's work (web process); `pipeline` is the worker's: claim + stages\n")
    print("| frame | " + " | ".join(order) + " | pipeline | bare engine | ratio | frames/s/core (pipeline) "
          "| static scene, file as is: ms, / detect | static scene, camera q80: ms, / detect |")
    print("|" + "---|" * (len(order) + 7))
    for row in rows:
        stages, static = row["stages"], row["static"]
        cells = " | ".join(f"{stages.get(stage, 0.0):.1f}" for stage in order)
        print(
            f"| {row['frame']} | {cells} | {row['pipeline']:.0f} | {row['bare']:.0f} "
            f"| {row['pipeline'] / row['bare']:.2f} | {1000 / row['pipeline']:.1f} "
            f"| {static['file']:.1f}, {static['file'] / stages['detect']:.1%} "
            f"| {static['q80']:.1f}, {static['q80'] / stages['detect']:.1%} |"
        )


if __name__ == "__main__":
    main()
