"""A video's frames as the JPEG bytes a camera would push, for the benchmarks that time the bare engine."""

from __future__ import annotations

from pathlib import Path


def jpeg_frames(video: Path) -> tuple[list[bytes], float]:
    """Every frame of `video`, JPEG-encoded, and its frame rate (30 when the file does not say)."""
    import cv2

    from cameras.engine.images import encode_jpeg, from_bgr

    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, picture = capture.read()
        if not ok:
            break
        frames.append(encode_jpeg(from_bgr(picture)))
    capture.release()
    return frames, fps
