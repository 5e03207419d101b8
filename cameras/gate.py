"""The motion gate: is a frame different enough from the camera's last processed one to look at?

Runs once per frame, at intake (`cameras.intake`), on the 1/8-scale thumbnail intake
decodes anyway. A static frame is dropped there with nothing stored. The thumbnail of
an accepted frame is held in the cache under the frame's id; when the worker has
processed the frame (`cameras.pipeline`) it becomes the camera's baseline. Comparing
with the last *processed* frame, not the last one seen, lets slow change add up.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from django.conf import settings
from django.core.cache import cache

from .engine import images as engine_images

HOLD_SECONDS = 3600


def _baseline_key(camera_id: int) -> str:
    return f"cameras:motion:{camera_id}"


def _held_key(frame_id: int) -> str:
    return f"cameras:motion:frame:{frame_id}"


class GateVerdict(NamedTuple):
    skip: bool
    score: float
    # (byte length, sha256) of the last processed frame: intake recognises a resend of it.
    last_processed: tuple[int, str] | None = None


def motion_gate(camera_id: int, signature: np.ndarray, at: float) -> GateVerdict:
    """Compares with the last processed frame; a static camera is still looked at every
    FRAME_MOTION_MAX_SKIP_SECONDS."""
    previous = cache.get(_baseline_key(camera_id))
    if not previous:
        return GateVerdict(False, 1.0)
    shape, raw, processed_at, *identity = previous
    last = tuple(identity) if len(identity) == 2 else None
    prev_sig = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
    score = engine_images.motion_score(prev_sig, signature)
    if score >= settings.FACE_MOTION_MIN_CHANGE:
        return GateVerdict(False, score, last)
    if abs(at - processed_at) >= settings.FRAME_MOTION_MAX_SKIP_SECONDS:
        return GateVerdict(False, score, last)
    return GateVerdict(True, score, last)


def hold_signature(frame_id: int, signature: np.ndarray) -> None:
    """Keep an accepted frame's thumbnail until a worker has processed the frame."""
    cache.set(_held_key(frame_id), (signature.shape, signature.tobytes()), HOLD_SECONDS)


def adopt_baseline(*, camera_id: int, frame_id: int, at: float, size: int, sha256: str) -> None:
    """The processed frame's thumbnail becomes the camera's baseline (nothing if it was lost)."""
    held = cache.get(_held_key(frame_id))
    if not held:
        return
    shape, raw = held
    cache.set(_baseline_key(camera_id), (shape, raw, at, size, sha256), HOLD_SECONDS)
    cache.delete(_held_key(frame_id))
