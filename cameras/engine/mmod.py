"""dlib's MMOD CNN face detector (`mmod_human_face_detector.dat`) run by onnxruntime.

Measured, not the default: see README "Face engine" (detector). The network is
converted like the ResNet (`onnx_convert`, "mmod"); this module does what dlib's
`input_rgb_image_pyramid<pyramid_down<6>>` and `loss_mmod_` do around it: run the
network on an image pyramid (each level 5/6 of the one before, down to the 80x80
detector window), take every output position scoring above the threshold as an
80x80 window centred on the input point it maps to (8 * position + 14: three
5x5 stride-2 convolutions without padding), map it back to the image, and keep
the best-scoring windows that overlap no better one by IoU above 0.34
(the file's non-max-suppression setting). dlib tiles the levels into one image
and uses its own down-sampling filter, so boxes may differ from dlib's by a few pixels.
"""

from __future__ import annotations

from typing import cast

import cv2
import numpy as np
import onnxruntime
from numpy.typing import NDArray

from . import quality, threads
from .base import DetectedFace, FaceBox, RGBImage
from .onnx_convert import ensure_model

PYRAMID_RATIO = 5 / 6
# Output position p of the network is centred on input pixel STRIDE * p + OFFSET.
STRIDE, OFFSET = 8, 14


class MmodDetector:
    def __init__(self) -> None:
        path, record = ensure_model("mmod")
        options = record["mmod"]
        self.window_width, self.window_height = options["window"]
        self.nms_iou = options["overlaps_nms"][0]
        session_options = onnxruntime.SessionOptions()
        session_options.intra_op_num_threads = threads.engine_threads()
        session_options.inter_op_num_threads = 1
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(path), session_options, providers=["CPUExecutionProvider"]
        )

    def scores(self, image: RGBImage) -> NDArray[np.float32]:
        """The network's raw score map (H/8, W/8 roughly) for one RGB image."""
        (out,) = self._session.run(["scores"], {"image": image[None].astype(np.float32)})
        scores: NDArray[np.float32] = out[0, 0]  # onnxruntime is untyped
        return scores

    def detect(self, image: RGBImage, *, upsample: int = 0, threshold: float = 0.0) -> list[DetectedFace]:
        """Faces in an RGB image, best score first; `upsample` doubles the image that many times first."""
        height, width = image.shape[:2]
        factor = 2.0**upsample
        # OpenCV's stubs say MatLike; resizing uint8 gives uint8.
        level = (
            image
            if not upsample
            else cast(RGBImage, cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR))
        )
        found: list[tuple[float, FaceBox]] = []
        scale = factor  # level pixels per image pixel
        while min(level.shape[:2]) >= max(self.window_width, self.window_height):
            scores = self.scores(level)
            for r, c in zip(*np.nonzero(scores > threshold), strict=True):
                cx, cy = STRIDE * c + OFFSET, STRIDE * r + OFFSET
                box = FaceBox(
                    top=round((cy - self.window_height / 2) / scale),
                    right=round((cx + self.window_width / 2) / scale),
                    bottom=round((cy + self.window_height / 2) / scale),
                    left=round((cx - self.window_width / 2) / scale),
                )
                found.append((float(scores[r, c]), box))
            size = (round(level.shape[1] * PYRAMID_RATIO), round(level.shape[0] * PYRAMID_RATIO))
            scale *= size[0] / level.shape[1]
            level = cast(RGBImage, cv2.resize(level, size, interpolation=cv2.INTER_AREA))
        found.sort(key=lambda item: item[0], reverse=True)
        kept: list[tuple[float, FaceBox]] = []
        for score, box in found:
            if all(box.iou(other) <= self.nms_iou for _, other in kept):
                kept.append((score, box))
        return [
            DetectedFace(box=box.clipped(height, width), score=score, quality=quality.assess(image, box))
            for score, box in kept
        ]
