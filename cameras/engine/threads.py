"""How many threads one process's face engine may use: set once, for OpenCV, onnxruntime and BLAS.

A camera worker processes one frame at a time per process and the machine runs
several processes, so each frame gets one core (`FACE_ENGINE_THREADS = 1`).
Raise it only for a machine with idle cores and few cameras: more threads make
one frame faster and the whole machine slower under load (thread hand-offs and
oversubscription with the other worker processes).
- OpenCV: `cv2.setNumThreads` (resizes, colour conversion, its DNN module).
- onnxruntime: the session's intra-op threads (`onnx_engine`), inter-op 1.
- BLAS (numpy's OpenBLAS: the gallery's matrix product): `threadpoolctl`, at run
  time, because the `OPENBLAS_NUM_THREADS` variable works only before numpy loads.
dlib (HOG, landmarks, its own ResNet) is single-threaded here (dlib-bin has no BLAS).
"""

from __future__ import annotations

import threading

import cv2
from django.conf import settings
from threadpoolctl import threadpool_limits

_configured: int | None = None
_lock = threading.Lock()


def engine_threads() -> int:
    return max(1, int(getattr(settings, "FACE_ENGINE_THREADS", 1) or 1))


def configure() -> int:
    """Apply `FACE_ENGINE_THREADS` to OpenCV and BLAS once per process; returns the count."""
    global _configured
    threads = engine_threads()
    if _configured == threads:
        return threads
    with _lock:
        if _configured != threads:
            cv2.setNumThreads(threads)
            threadpool_limits(limits=threads, user_api="blas")
            _configured = threads
    return threads
