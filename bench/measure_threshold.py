"""Measure same-person and different-person face distances on the shared photos.

    .venv/bin/python bench/measure_threshold.py [--faces ../shared/faces]

Every face of every photo is embedded as found and in variants (crops around the
face, downscales to small faces, mirror, heavy JPEG, blur, darker, rotated), each
re-detected as a camera frame would be. Pairs are then grouped:

- same person, different shot: the figure the threshold must stay above;
- same person, same shot (variants of one photo): how much a camera's treatment moves a vector;
- different people: what the threshold must stay below (only two people here, see README).

`--strangers DIR` adds every face of every photo in DIR as a person of its own (a
group photo of different people, say): more different-person pairs, and probes
that must all come out unknown. Nothing from DIR is stored or committed.

The photo families below are facts about the shared folder: the 480p/720p/1080p,
small and partial-face files are crops and resizes of obama.jpg; obama3.jpg is the
two-person photo's Obama and biden.jpg its Biden (distances of 0.04-0.08 between the
originals show it, against 0.31-0.43 between truly different shots of Obama).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

# The engine reads only settings, so the app registry (django.setup) is not needed.
from django.conf import settings

from cameras.engine import get_engine
from cameras.engine.base import FaceBox
from cameras.engine.images import decode_image, downscale, encode_jpeg

DEFAULT_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
# file -> (shot, person) per face, faces ordered left to right.
PHOTOS = {
    "obama.jpg": [("obama-portrait", "obama")],
    "obama_480p.jpg": [("obama-portrait", "obama")],
    "obama_720p.jpg": [("obama-portrait", "obama")],
    "obama_1080p.jpg": [("obama-portrait", "obama")],
    "obama_small.jpg": [("obama-portrait", "obama")],
    "obama_partial_face.jpg": [("obama-portrait", "obama")],
    "obama2.jpg": [("obama2", "obama")],
    "obama3.jpg": [("obama-with-biden", "obama")],
    "obama_and_biden.jpg": [("obama-with-biden", "obama"), ("biden-portrait", "biden")],
    "biden.jpg": [("biden-portrait", "biden")],
}


@dataclass
class Sample:
    photo: str
    variant: str
    shot: str
    person: str
    size_px: int
    vector: np.ndarray


def find_face(engine, image: np.ndarray, near: FaceBox | None) -> FaceBox | None:
    """The face nearest to `near` (or the largest), re-detected; small images are upsampled."""
    upsample = 1 if max(image.shape[:2]) < 700 else 0
    faces = engine.detect(image, upsample=upsample)
    if not faces:
        return None
    if near is None:
        return max(faces, key=lambda f: f.box.area).box
    cy, cx = (near.top + near.bottom) / 2, (near.left + near.right) / 2

    def dist(f):
        return abs((f.box.top + f.box.bottom) / 2 - cy) + abs((f.box.left + f.box.right) / 2 - cx)

    best = min(faces, key=dist)
    return best.box if best.box.iou(near) > 0.2 else None


def variants(image: np.ndarray, box: FaceBox):
    """(name, image, expected box) for each camera-like treatment of one face."""
    height, width = image.shape[:2]
    yield "original", image, box
    for margin in (0.4, 1.0):
        pad_x, pad_y = int(box.width * margin), int(box.height * margin)
        top, left = max(0, box.top - pad_y), max(0, box.left - pad_x)
        bottom, right = min(height, box.bottom + pad_y), min(width, box.right + pad_x)
        shifted = FaceBox(box.top - top, box.right - left, box.bottom - top, box.left - left)
        yield f"crop{margin:g}", np.ascontiguousarray(image[top:bottom, left:right]), shifted
    for face_px in (120, 90, 70):
        factor = face_px / box.width
        if factor < 0.95:
            small, scale = downscale(image, round(max(height, width) * factor))
            yield f"face{face_px}px", small, box.scaled(scale)
    mirrored = FaceBox(box.top, width - box.left, box.bottom, width - box.right)
    yield "mirror", np.ascontiguousarray(image[:, ::-1]), mirrored
    jpeg = cv2.imdecode(np.frombuffer(encode_jpeg(image, quality=20), np.uint8), cv2.IMREAD_COLOR)
    yield "jpeg20", cv2.cvtColor(jpeg, cv2.COLOR_BGR2RGB), box
    sigma = max(1.0, box.width / 150)
    yield "blur", cv2.GaussianBlur(image, (0, 0), sigma), box
    yield "dark", (image.astype(np.float32) * 0.45).astype(np.uint8), box
    centre = ((box.left + box.right) / 2, (box.top + box.bottom) / 2)
    rotation = cv2.getRotationMatrix2D(centre, 10, 1.0)
    yield "rot10", cv2.warpAffine(image, rotation, (width, height), borderMode=cv2.BORDER_REPLICATE), box


def stranger_photos(folder: Path | None) -> dict[Path, list[tuple[str, str]] | None]:
    """Each photo of `folder` with no known people: its faces are labelled as found."""
    if folder is None:
        return {}
    return {path: None for path in sorted(folder.iterdir()) if path.suffix.lower() in (".jpg", ".jpeg", ".png")}


def collect(faces_dir: Path, strangers: Path | None = None) -> list[Sample]:
    engine = get_engine()
    samples = []
    photos = {faces_dir / photo: people for photo, people in PHOTOS.items()} | stranger_photos(strangers)
    for path, people in photos.items():
        photo = path.name
        if not path.exists():
            print(f"  (missing {photo}, skipped)")
            continue
        image = decode_image(path.read_bytes(), max_pixels=settings.FACE_MAX_IMAGE_PIXELS)
        found = sorted(engine.detect(image, upsample=0), key=lambda f: f.box.left)
        if people is None:  # a stranger photo: every face is somebody else
            people = [(f"{path.stem}-{index}", f"stranger:{path.stem}-{index}") for index in range(len(found))]
            print(f"  {photo}: {len(found)} strangers")
        if len(found) != len(people):
            print(f"  {photo}: {len(found)} faces found, {len(people)} expected; skipped")
            continue
        for face, (shot, person) in zip(found, people, strict=True):
            for name, variant, expected in variants(image, face.box):
                box = find_face(engine, variant, expected)
                if box is None:
                    print(f"  {photo} {person} {name}: not detected")
                    continue
                vector = engine.embed(variant, box)
                samples.append(Sample(photo, name, shot, person, min(box.width, box.height), vector))
    return samples


def describe(label: str, values: list[float]) -> None:
    if not values:
        print(f"{label:<34} n=0")
        return
    a = np.array(values)
    print(
        f"{label:<34} n={len(a):4d}  min {a.min():.3f}  p5 {np.percentile(a, 5):.3f}  median {np.median(a):.3f}"
        f"  p95 {np.percentile(a, 95):.3f}  max {a.max():.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="folder of the shared face photos")
    parser.add_argument("--strangers", type=Path, help="folder of photos of other people (each face its own person)")
    args = parser.parse_args()
    if not args.faces.is_dir():
        parser.error(f"{args.faces} is not a folder")
    if args.strangers is not None and not args.strangers.is_dir():
        parser.error(f"{args.strangers} is not a folder")
    print(f"Embedding faces from {args.faces} ...")
    samples = collect(args.faces, args.strangers)
    print(f"{len(samples)} face vectors from {len({s.photo for s in samples})} photos\n")

    same_shot, same_person, different = [], [], []
    worst_same, closest_diff = (0.0, None), (9.0, None)
    for a, b in itertools.combinations(samples, 2):
        d = float(np.linalg.norm(a.vector - b.vector))
        if a.person != b.person:
            different.append(d)
            if d < closest_diff[0]:
                closest_diff = (d, (a, b))
        elif a.shot == b.shot:
            same_shot.append(d)
        else:
            same_person.append(d)
            if d > worst_same[0]:
                worst_same = (d, (a, b))

    describe("same person, same shot (variants)", same_shot)
    describe("same person, different shots", same_person)
    describe("different people", different)
    if worst_same[1]:
        a, b = worst_same[1]
        print(f"\nfarthest same-person pair: {worst_same[0]:.3f}  {a.photo}/{a.variant} vs {b.photo}/{b.variant}")
    if closest_diff[1]:
        a, b = closest_diff[1]
        print(f"closest different-person pair: {closest_diff[0]:.3f}  {a.photo}/{a.variant} vs {b.photo}/{b.variant}")

    print("\nper variant, distance to the same shot's original (how a camera's treatment moves the vector):")
    originals = {(s.shot, s.person, s.photo): s.vector for s in samples if s.variant == "original"}
    by_variant: dict[str, list[float]] = {}
    for s in samples:
        if s.variant != "original" and (s.shot, s.person, s.photo) in originals:
            d = float(np.linalg.norm(s.vector - originals[(s.shot, s.person, s.photo)]))
            by_variant.setdefault(s.variant, []).append(d)
    for name, values in by_variant.items():
        describe(f"  {name}", values)

    print("\nthreshold   same-person pairs accepted (different shots)   different-person pairs accepted")
    sp, df = np.array(same_person), np.array(different)
    for t in (0.35, 0.40, 0.45, 0.50, 0.55, 0.60):
        print(f"  {t:.2f}      {np.mean(sp <= t) * 100:5.1f} %{'':33}{int(np.sum(df <= t)):5d} of {len(df)}")

    # Enrol the original of each shot (as enrolment would) and match every other
    # sample with the configured rule, to see the outcome the settings give.
    from cameras.engine.gallery import Gallery

    enrol = [s for s in samples if s.variant == "original" and s.photo in {"obama.jpg", "biden.jpg"}]
    people = sorted({s.person for s in enrol})
    gallery = Gallery([people.index(s.person) for s in enrol], np.stack([s.vector for s in enrol]))
    threshold, margin = settings.FACE_MATCH_THRESHOLD, settings.FACE_MATCH_MARGIN
    strong = settings.FACE_STRONG_MATCH_DISTANCE
    outcomes = {"right": 0, "wrong": 0, "unknown": 0, "strong": 0}
    enrolled_shots = {s.shot for s in enrol}
    probes = [s for s in samples if s.shot not in enrolled_shots]
    for s in probes:
        m = gallery.match(s.vector, threshold=threshold, margin=margin)
        if m.student_id is None:
            outcomes["unknown"] += 1
        elif people[m.student_id] == s.person:
            outcomes["right"] += 1
            outcomes["strong"] += m.distance <= strong
        else:
            outcomes["wrong"] += 1
    print(
        f"\nwith FACE_MATCH_THRESHOLD={threshold} MARGIN={margin} STRONG={strong}, enrolling obama.jpg and biden.jpg,"
        f" {len(probes)} faces from other shots: {outcomes['right']} right ({outcomes['strong']} strong),"
        f" {outcomes['unknown']} unknown, {outcomes['wrong']} wrong"
    )
    strangers = [s for s in samples if s.person.startswith("stranger:")]
    if strangers:
        to_enrolled = [float(np.linalg.norm(s.vector - e.vector)) for s in strangers for e in enrol]
        describe("strangers to the enrolled photos", to_enrolled)
        matched = sum(1 for s in strangers if gallery.match(s.vector, threshold=threshold, margin=margin).student_id
                      is not None)
        print(f"{len(strangers)} stranger faces (with variants) matched to an enrolled student: {matched}")


if __name__ == "__main__":
    main()
