"""The fast engine: dlib's HOG detector and 5-point landmarks, dlib's ResNet run by onnxruntime.

The ResNet is the same network with the same weights, converted from the
installed `dlib_face_recognition_resnet_model_v1.dat` (`onnx_convert`, on first
use). Faces are aligned exactly as dlib does (`dlib.get_face_chips`: 5-point
alignment, 150x150, padding 0.25), so its vectors equal dlib's within float
rounding (`test_engine_equality.py`: every component within 1e-3, same
decisions) and it shares dlib's `name` and `version`: enrolments made by either
engine stay valid with the other. onnxruntime over OpenCV's DNN module: about
twice as fast on this CPU (README, face engine speed).
"""

from __future__ import annotations

import dlib
import numpy as np
import onnxruntime

from . import threads
from .base import Embedding, FaceBox, RGBImage
from .dlib_engine import DlibFaceEngine, _as_dlib_image
from .onnx_convert import ensure_model

CHIP_SIZE = 150


class OnnxFaceEngine(DlibFaceEngine):
    """dlib detection and alignment, the descriptor computed by onnxruntime."""

    def __init__(self) -> None:
        super().__init__()
        count = threads.configure()
        path, self.model_record = ensure_model("resnet")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = count
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Threads must not spin waiting for work between frames: that burns a core per process.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def chips(self, image: RGBImage, boxes: list[FaceBox]) -> RGBImage:
        """The aligned 150x150 RGB chips of the faces at `boxes`, as dlib cuts them: (N, 150, 150, 3) uint8."""
        image = _as_dlib_image(image)
        with self._lock:
            shapes = self._landmark_shapes(image, boxes)
            chips = dlib.get_face_chips(image, shapes, CHIP_SIZE, self.chip_padding)
        return np.stack(chips)

    def embed_many(self, image: RGBImage, boxes: list[FaceBox]) -> list[Embedding]:
        """Descriptors of several faces of one image, computed in one batch."""
        if not boxes:
            return []
        chips = self.chips(image, boxes).astype(np.float32)
        (descriptors,) = self._session.run(["descriptors"], {"chips": chips})
        return list(descriptors)
