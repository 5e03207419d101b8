"""The face engine: one instance per process, chosen by `settings.FACE_ENGINE`.

    from cameras.engine import get_engine
    engine = get_engine()
    faces = engine.detect(image)
    vectors = engine.embed_many(image, [face.box for face in faces])
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.utils.module_loading import import_string

from .base import DetectedFace, FaceBox, FaceEngine, FaceQuality

__all__ = ["DetectedFace", "FaceBox", "FaceEngine", "FaceQuality", "get_engine"]

DEFAULT_ENGINE = "cameras.engine.dlib_engine.DlibFaceEngine"

_engine: FaceEngine | None = None
_engine_path: str | None = None
_lock = threading.Lock()


def get_engine() -> FaceEngine:
    """The process's engine; the first call loads the models (about a second for dlib)."""
    global _engine, _engine_path
    path = getattr(settings, "FACE_ENGINE", None) or DEFAULT_ENGINE
    engine = _engine
    if engine is not None and _engine_path == path:
        return engine
    with _lock:
        if _engine is None or _engine_path != path:
            _engine = import_string(path)()
            _engine_path = path
        return _engine
