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
