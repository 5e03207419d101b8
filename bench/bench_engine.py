"""Speed of the bare face engine, stage by stage, on the shared camera-resolution photos.

    .venv/bin/python bench/bench_engine.py [--faces ../shared/faces] [--repeat 7] [--gallery 100000]

Prints, per frame size: decode, motion gate, detection (full frame and downscaled),
one descriptor, one match, and frames per second on one core; then matching
against a 100,000-enrolment gallery and the saving of the face tracker.
Everything runs on one thread (OpenCV and OpenBLAS are told so), so the figures
are per core. Each figure is the best of `--repeat` runs of the process's CPU
time: on a shared, busy machine wall-clock time mostly measures the other
processes (`--clock wall`, `--stat median` for the other views).

The cameras pipeline benchmark imports `bare_engine_run(image_bytes)` to compare
its full pipeline with the engine doing the same work.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if __name__ == "__main__":
    # Per-core figures: numpy's BLAS must not spread one match over every core.
    # (Set before numpy loads; only when run as a script, not when imported.)
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

# The engine reads only settings, so the app registry (django.setup) is not needed.
from django.conf import settings

from cameras.engine import detect_faces, get_engine
from cameras.engine.base import FaceBox
from cameras.engine.gallery import Gallery
from cameras.engine.images import (
    decode_image,
    downscale,
    encode_jpeg,
    motion_score,
    motion_signature_from_bytes,
    read_header,
)
from cameras.engine.tracking import FaceTracker

DEFAULT_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
FRAMES = ("obama_480p.jpg", "obama_720p.jpg", "obama_1080p.jpg")


def bare_engine_run(
    image_bytes: bytes, *, max_side: int | None = None, upsample: int | None = None
) -> list[np.ndarray]:
    """Decode, detect on the frame downscaled as the pipeline does, embed every face at full size.

    The engine's own work on one frame, with the same settings as the pipeline
    (`FACE_DETECT_MAX_SIDE`, `FACE_DETECT_UPSAMPLE`) and nothing else: no motion
    gate, no tracker, no matching, no database. Returns the face vectors.
    """
    image = decode_image(image_bytes, max_pixels=settings.FACE_MAX_IMAGE_PIXELS)
    faces = detect_faces(image, max_side=max_side, upsample=upsample)
    return get_engine().embed_many(image, [face.box for face in faces])


STATISTIC: Callable[[list[float]], float] = min
CLOCK: Callable[[], float] = time.process_time


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Milliseconds of one call: best (or median, `--stat`) of `repeat` calls after a warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        start = CLOCK()
        fn()
        samples.append((CLOCK() - start) * 1000)
    return STATISTIC(samples)


def random_gallery(size: int, anchor: np.ndarray, rng: np.random.Generator) -> Gallery:
    """`size` enrolments, four per student, spread like real descriptors (norm ~1), plus `anchor` as student 0."""
    vectors = rng.normal(0, 1, (size - 1, anchor.shape[0])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.concatenate([[0], 1 + np.arange(size - 1) // 4])
    return Gallery(ids.tolist(), np.vstack([anchor[None, :], vectors]), version=1)


def frame_files(faces_dir: Path) -> list[tuple[str, bytes]]:
    """The shared 480p/720p/1080p photos, plus a 640x360 camera-quality JPEG made from the 480p one."""
    files = [(name, (faces_dir / name).read_bytes()) for name in FRAMES]
    image = decode_image(files[0][1], max_pixels=settings.FACE_MAX_IMAGE_PIXELS)
    small = cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)
    return [("640x360 from obama_480p.jpg", encode_jpeg(small, quality=80)), *files]


def bench_frames(faces_dir: Path, repeat: int) -> tuple[list[dict], np.ndarray]:
    engine = get_engine()
    max_side, max_pixels = settings.FACE_DETECT_MAX_SIDE, settings.FACE_MAX_IMAGE_PIXELS
    gallery = None
    rows = []
    for name, data in frame_files(faces_dir):
        image = decode_image(data, max_pixels=max_pixels)
        small, scale = downscale(image, max_side)
        faces_small = engine.detect(small)
        faces_full = engine.detect(image)
        if not faces_full:
            raise SystemExit(f"{name}: no face found; is this the shared faces folder?")
        box = faces_full[0].box
        vector = engine.embed(image, box)
        if gallery is None:
            gallery = Gallery([1, 2], np.stack([vector, -vector]))
        two = gallery
        previous = motion_signature_from_bytes(data)
        # Cameras send JPEG at about quality 80; the shared photos are near-lossless,
        # which makes entropy decoding (most of the gate's cost) dearer than on a camera.
        camera_jpeg = encode_jpeg(image, quality=80)
        row = {
            "frame": f"{image.shape[1]}x{image.shape[0]}",
            "faces": f"{len(faces_full)}/{len(faces_small)}",
            "decode": timed(lambda data=data: decode_image(data, max_pixels=max_pixels), repeat),
            "header": timed(lambda data=data: read_header(data), repeat),
            "gate_bytes": timed(
                lambda data=data, p=previous: (read_header(data), motion_score(p, motion_signature_from_bytes(data))),
                repeat,
            ),
            "gate_camera": timed(
                lambda data=camera_jpeg, p=previous: (
                    read_header(data),
                    motion_score(p, motion_signature_from_bytes(data)),
                ),
                repeat,
            ),
            "detect_full": timed(lambda image=image: engine.detect(image), repeat),
            "downscale": timed(lambda image=image: downscale(image, max_side), repeat),
            "detect_small": timed(lambda small=small: engine.detect(small), repeat),
            "embed": timed(lambda image=image, box=box: engine.embed(image, box), repeat),
            "match": timed(
                lambda v=vector, two=two: two.match(
                    v, threshold=settings.FACE_MATCH_THRESHOLD, margin=settings.FACE_MATCH_MARGIN
                ),
                repeat * 20,
            ),
            "bare": timed(lambda data=data: bare_engine_run(data), repeat),
            "scale": scale,
        }
        row["fps"] = 1000 / row["bare"]
        # A static scene costs the header check and the gate on 1/8-size decoded bytes;
        # compare with the detection it saves.
        row["static_share"] = row["gate_bytes"] / row["detect_small"]
        row["static_camera"] = row["gate_camera"] / row["detect_small"]
        rows.append(row)
    return rows, vector


def bench_gallery(anchor: np.ndarray, size: int, repeat: int) -> dict:
    rng = np.random.default_rng(6)
    start = CLOCK()
    gallery = random_gallery(size, anchor, rng)
    build_ms = (CLOCK() - start) * 1000
    probe = anchor + rng.normal(0, 0.02, anchor.shape).astype(np.float32)
    threshold, margin = settings.FACE_MATCH_THRESHOLD, settings.FACE_MATCH_MARGIN
    session = set(range(0, 120, 4))
    ten = np.stack([probe] * 10)
    result = gallery.match(probe, threshold=threshold, margin=margin)
    assert result.student_id == 0, result
    return {
        "size": size,
        "students": len(gallery.students),
        "build": build_ms,
        "mb": gallery._vectors.nbytes / 1e6,
        "one": timed(lambda: gallery.match(probe, threshold=threshold, margin=margin), repeat * 10),
        "restricted": timed(
            lambda: gallery.match(probe, threshold=threshold, margin=margin, restrict_to=session), repeat * 10
        ),
        "ten": timed(lambda: gallery.match_many(ten, threshold=threshold, margin=margin), repeat * 10),
    }


def bench_tracker(faces_dir: Path, seconds: int = 30) -> dict:
    """One student sitting in view of a camera sampled once a second, moving a little.

    Without the tracker every frame is detected, embedded and matched; with it,
    frames whose face continues a live track skip the descriptor and the match.
    """
    engine = get_engine()
    image = decode_image((faces_dir / "obama_480p.jpg").read_bytes(), max_pixels=settings.FACE_MAX_IMAGE_PIXELS)
    rng = np.random.default_rng(7)
    shifts = np.cumsum(rng.integers(-4, 5, size=(seconds, 2)), axis=0)
    frames = [np.ascontiguousarray(np.roll(image, tuple(shift), axis=(0, 1))) for shift in shifts]
    (face,) = engine.detect(image)
    gallery = Gallery([1], np.stack([engine.embed(image, face.box)]))
    threshold, margin = settings.FACE_MATCH_THRESHOLD, settings.FACE_MATCH_MARGIN
    tracker = FaceTracker(
        min_iou=settings.FACE_TRACK_MIN_IOU,
        max_gap_seconds=settings.FACE_TRACK_MAX_GAP_SECONDS,
        reverify_seconds=settings.FACE_TRACK_REVERIFY_SECONDS,
    )

    def run(use_tracker: bool) -> tuple[float, int]:
        recognised = 0
        start = CLOCK()
        for second, frame in enumerate(frames):
            for found in engine.detect(frame):
                box: FaceBox = found.box
                if use_tracker and (track := tracker.lookup("bench", box, float(second))):
                    recognised += track.student_id == 1
                    continue
                match = gallery.match(engine.embed(frame, box), threshold=threshold, margin=margin)
                recognised += match.student_id == 1
                if use_tracker and match.student_id is not None:
                    tracker.remember("bench", box, float(second), student_id=match.student_id, distance=match.distance)
        return (CLOCK() - start) * 1000 / len(frames), recognised

    without_ms, without_seen = run(False)
    with_ms, with_seen = run(True)
    return {
        "frames": len(frames),
        "without": without_ms,
        "with": with_ms,
        "saving": 1 - with_ms / without_ms,
        "hit_rate": tracker.hit_rate,
        "recognised": (without_seen, with_seen),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="folder of the shared face photos")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per figure (median reported)")
    parser.add_argument("--gallery", type=int, default=100_000, help="enrolments in the matching benchmark")
    parser.add_argument("--stat", choices=["min", "median"], default="min", help="figure reported per stage")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="process CPU time or wall clock")
    args = parser.parse_args()
    global STATISTIC, CLOCK
    STATISTIC = min if args.stat == "min" else statistics.median
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    if not args.faces.is_dir():
        parser.error(f"{args.faces} is not a folder")
    if args.repeat < 1 or args.gallery < 2:
        parser.error("--repeat must be at least 1 and --gallery at least 2")

    cv2.setNumThreads(1)
    engine = get_engine()
    print(f"engine {engine.name} {engine.version}; detection downscaled to {settings.FACE_DETECT_MAX_SIDE} px")
    print(f"one thread; {args.stat} of {args.repeat} runs; milliseconds of {args.clock} time\n")
    rows, vector = bench_frames(args.faces, args.repeat)
    header = (
        "| frame | faces full/small | decode | motion gate (from bytes) | detect full | detect downscaled "
        "| embed 1 face | match | bare engine | frames/s/core | static scene / detection: bytes (q80) |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        print(
            f"| {r['frame']} | {r['faces']} | {r['decode']:.1f} | {r['gate_bytes']:.2f} "
            f"| {r['detect_full']:.0f} | {r['detect_small']:.0f} (+{r['downscale']:.1f} resize, x{r['scale']:.2f}) "
            f"| {r['embed']:.0f} | {r['match']:.3f} | {r['bare']:.0f} | {r['fps']:.1f} "
            f"| {r['static_share']:.1%} ({r['static_camera']:.1%}) |"
        )
    g = bench_gallery(vector, args.gallery, args.repeat)
    print(
        f"\ngallery of {g['size']:,} enrolments ({g['students']:,} students, {g['mb']:.0f} MB float32, built in"
        f" {g['build']:.0f} ms): one face {g['one']:.2f} ms, restricted to a 30-student session"
        f" {g['restricted']:.2f} ms, ten faces at once {g['ten']:.2f} ms"
    )
    t = bench_tracker(args.faces)
    print(
        f"tracker, {t['frames']} frames of one student at 1 frame/s: {t['without']:.0f} ms/frame without,"
        f" {t['with']:.0f} ms/frame with ({t['saving']:.0%} saved, {t['hit_rate']:.0%} of faces served from"
        f" the track; recognised {t['recognised'][0]} and {t['recognised'][1]} times)"
    )


if __name__ == "__main__":
    main()
