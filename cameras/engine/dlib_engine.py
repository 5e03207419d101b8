"""The default engine: dlib's HOG face detector, 5-point landmarks and the ResNet 128-d descriptor.

Model files come from the `face_recognition_models` package on disk; nothing is
downloaded. Build it through `cameras.engine.get_engine()` so a process loads the
models once.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import dlib
import face_recognition_models
import numpy as np

from . import quality
from .base import DetectedFace, Embedding, FaceBox, RGBImage


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


class DlibFaceEngine:
    """dlib HOG + ResNet. Distances between its vectors are Euclidean (dlib's own cut-off is 0.6)."""

    name = "dlib"
    dimension = 128
    # dlib resizes and aligns each face to a 150x150 chip; padding 0.25 is its default.
    chip_padding = 0.25

    def __init__(self) -> None:
        recognition_path = face_recognition_models.face_recognition_model_location()
        landmarks_path = face_recognition_models.pose_predictor_five_point_model_location()
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(landmarks_path)
        self._descriptor = dlib.face_recognition_model_v1(recognition_path)
        # The version names the model files actually loaded, so vectors from another
        # model can never be compared with these by mistake.
        self.version = f"resnet_v1-{_file_digest(recognition_path)}+sp5-{_file_digest(landmarks_path)}"
        # dlib objects are not documented as thread-safe; web threads may share one engine.
        self._lock = threading.Lock()

    def detect(self, image: RGBImage, *, upsample: int = 0) -> list[DetectedFace]:
        """Faces in an RGB image, best score first; boxes are cut to the image."""
        image = _as_dlib_image(image)
        height, width = image.shape[:2]
        with self._lock:
            rects, scores, _ = self._detector.run(image, upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            raw = FaceBox(top=rect.top(), right=rect.right() + 1, bottom=rect.bottom() + 1, left=rect.left())
            faces.append(
                DetectedFace(box=raw.clipped(height, width), score=float(score), quality=quality.assess(image, raw))
            )
        faces.sort(key=lambda face: face.score, reverse=True)
        return faces

    def embed(self, image: RGBImage, box: FaceBox) -> Embedding:
        """The 128-d descriptor of the face at `box`."""
        return self.embed_many(image, [box])[0]

    def embed_many(self, image: RGBImage, boxes: list[FaceBox]) -> list[Embedding]:
        """Descriptors of several faces of one image, computed in one batch."""
        if not boxes:
            return []
        image = _as_dlib_image(image)
        with self._lock:
            shapes = self._landmark_shapes(image, boxes)
            descriptors = self._descriptor.compute_face_descriptor(image, shapes, 0, self.chip_padding)
        return [np.asarray(descriptor, dtype=np.float32) for descriptor in descriptors]

    def _landmark_shapes(self, image: RGBImage, boxes: list[FaceBox]) -> dlib.full_object_detections:
        """The landmarks of each face, as dlib's alignment takes them. Call with `self._lock` held."""
        shapes = dlib.full_object_detections()
        for box in boxes:
            rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
            shapes.append(self._landmarks(image, rect))
        return shapes


def _as_dlib_image(image: RGBImage) -> RGBImage:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("The face engine needs an RGB uint8 image of shape (height, width, 3).")
    return np.ascontiguousarray(image)
