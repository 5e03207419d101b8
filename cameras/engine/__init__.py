"""The face engine: one instance per process, chosen by `settings.FACE_ENGINE`.

`get_engine()` gives the engine; `detect_faces(image)` detects on a downscaled
copy as configured and reports boxes in the full image; then
`get_engine().embed_many(image, [face.box for face in faces])` gives the vectors
to match with `gallery.Gallery`.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.utils.module_loading import import_string

from . import quality, threads
from .base import DetectedFace, Embedding, FaceBox, FaceEngine, FaceQuality, RGBImage
from .images import downscale

__all__ = [
    "DetectedFace",
    "Embedding",
    "FaceBox",
    "FaceEngine",
    "FaceQuality",
    "RGBImage",
    "detect_faces",
    "get_engine",
]

DEFAULT_ENGINE = "cameras.engine.onnx_engine.OnnxFaceEngine"

_engine: FaceEngine | None = None
_engine_path: str | None = None
_lock = threading.Lock()


def get_engine() -> FaceEngine:
    """The process's engine; the first call loads the models (about a second; the first ever
    call of the ONNX engine also converts dlib's ResNet, a few seconds)."""
    global _engine, _engine_path
    path = getattr(settings, "FACE_ENGINE", None) or DEFAULT_ENGINE
    engine = _engine
    if engine is not None and _engine_path == path:
        return engine
    with _lock:
        if _engine is None or _engine_path != path:
            threads.configure()  # once per process: OpenCV and BLAS threads (FACE_ENGINE_THREADS)
            _engine = import_string(path)()
            _engine_path = path
        return _engine


def detect_faces(
    image: RGBImage,
    *,
    max_side: int | None = None,
    upsample: int | None = None,
    engine: FaceEngine | None = None,
) -> list[DetectedFace]:
    """Detect on a copy shrunk to `max_side` (default `FACE_DETECT_MAX_SIDE`), report in `image`'s pixels.

    Boxes are scaled back to the full image and quality is judged there, so
    `quality.size_px` is the face's real size and embeddings can use full detail.
    HOG finds faces from about 75 px (upsample 0) or 40 px (upsample 1) in the
    image it runs on: pick `max_side` so the smallest face of interest keeps that size.
    """
    engine = engine or get_engine()
    max_side = settings.FACE_DETECT_MAX_SIDE if max_side is None else max_side
    upsample = settings.FACE_DETECT_UPSAMPLE if upsample is None else upsample
    small, scale = downscale(image, max_side)
    found = engine.detect(small, upsample=upsample)
    if scale == 1.0:
        return found
    height, width = image.shape[:2]
    faces = []
    for face in found:
        raw = face.box.scaled(1 / scale)
        faces.append(DetectedFace(raw.clipped(height, width), face.score, quality.assess(image, raw)))
    return faces
