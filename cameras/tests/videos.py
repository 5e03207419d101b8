"""Videos built from the face stills, for ingest tests and the benchmark (cv2.VideoWriter, mp4v)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .conftest import photo_path


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    scale = min(width / image.shape[1], height / image.shape[0])
    return cv2.resize(image, (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA)


def build_video(
    path: Path,
    stills: list[str],
    *,
    size: tuple[int, int] = (640, 360),
    fps: int = 30,
    hold_seconds: float = 1.0,
    move_seconds: float = 0.5,
) -> int:
    """Each still slides in from the right (motion), then holds still; returns the frame count.

    A classroom camera sees much the same: people move in, then sit for a while.
    """
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v here.")
    count = 0
    try:
        for name in stills:
            picture = _fit(cv2.imread(str(photo_path(name))), width, height)
            ph, pw = picture.shape[:2]
            final_x, y = (width - pw) // 2, (height - ph) // 2
            moving = max(1, int(move_seconds * fps))
            for step in range(moving + int(hold_seconds * fps)):
                x = final_x + int((width - final_x) * max(0, moving - 1 - step) / moving)
                canvas = np.full((height, width, 3), 96, dtype=np.uint8)
                visible = max(0, min(pw, width - x))
                if visible:
                    canvas[y : y + ph, x : x + visible] = picture[:, :visible]
                writer.write(canvas)
                count += 1
    finally:
        writer.release()
    return count


def build_talk_video(path: Path, *, still: str = "obama2.jpg", seconds: float = 20.0, fps: int = 30,
                     size: tuple[int, int] = (640, 360), face_px: int = 80, noise: float = 12.0,
                     jpeg_quality: int = 30) -> int:
    """A speaker in a talk, made from a fixture photo: the head moves across the frame and
    zooms in and out over a blurred background, with sensor noise and JPEG artefacts.

    Tuned so that, against an enrolment of `obama.jpg`, the face's distance hovers between
    about 0.37 and 0.52 (a third of the frames above the 0.45 threshold, none strong): the
    case where a single frame is not enough and tracking must not hide the evidence.
    Returns the frame count.
    """
    import math

    from cameras.engine import detect_faces

    width, height = size
    source = cv2.cvtColor(cv2.imread(str(photo_path(still))), cv2.COLOR_BGR2RGB)
    box = detect_faces(source, max_side=0)[0].box
    grow_x, grow_y = int(0.9 * box.width), int(0.9 * box.height)
    head = source[max(0, box.top - grow_y): box.bottom + grow_y, max(0, box.left - grow_x): box.right + grow_x]
    scenery = cv2.cvtColor(cv2.imread(str(photo_path("biden.jpg"))), cv2.COLOR_BGR2RGB)
    background = cv2.GaussianBlur(cv2.resize(scenery[scenery.shape[0] // 2:], size), (0, 0), 3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v here.")
    count = int(seconds * fps)
    try:
        for index in range(count):
            t = index / fps
            scale = face_px * (1 + 0.25 * math.sin(2 * math.pi * t / 7)) / box.width
            moving = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            x = int(width / 2 - moving.shape[1] / 2 + 120 * math.sin(2 * math.pi * t / 9))
            y = int(height / 2 - moving.shape[0] / 2 + 30 * math.sin(2 * math.pi * t / 5))
            canvas = background.copy()
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(width, x + moving.shape[1]), min(height, y + moving.shape[0])
            canvas[y0:y1, x0:x1] = moving[y0 - y: y1 - y, x0 - x: x1 - x]
            grain = np.random.default_rng(index).normal(0, noise, canvas.shape)
            canvas = np.clip(canvas + grain, 0, 255).astype(np.uint8)
            _, encoded = cv2.imencode(".jpg", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
            writer.write(cv2.imdecode(encoded, cv2.IMREAD_COLOR))
    finally:
        writer.release()
    return count
