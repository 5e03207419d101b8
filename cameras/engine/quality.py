"""Is a detected face good enough to enrol or to trust? Size and sharpness, with reasons."""

from __future__ import annotations

import cv2
from django.conf import settings

from .base import FaceBox, FaceQuality, RGBImage

# Sharpness is measured on the face resized to this square, so the figure does not
# depend on how large the face is in the frame.
SHARPNESS_SIDE = 128
# A box that sticks out of the image by more than this share of its area is a partial face.
MAX_OUTSIDE_SHARE = 0.15


def sharpness(image: RGBImage, box: FaceBox) -> float:
    """Variance of the Laplacian of the face, normalised to a fixed size; low means blurred."""
    height, width = image.shape[:2]
    inside = box.clipped(height, width)
    if inside.width < 2 or inside.height < 2:
        return 0.0
    face = image[inside.top : inside.bottom, inside.left : inside.right]
    gray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(gray, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def assess(
    image: RGBImage,
    box: FaceBox,
    *,
    min_size: int | None = None,
    min_sharpness: float | None = None,
) -> FaceQuality:
    """Quality of the face at `box` (pixel coordinates of `image`, possibly past its edge)."""
    min_size = settings.FACE_MIN_SIZE_PX if min_size is None else min_size
    min_sharpness = settings.FACE_MIN_SHARPNESS if min_sharpness is None else min_sharpness
    height, width = image.shape[:2]
    size_px = min(box.width, box.height)
    value = round(sharpness(image, box), 1)
    reasons: list[str] = []
    if size_px < min_size:
        reasons.append(f"The face is too small: {size_px} px across, at least {min_size} px needed.")
    if value < min_sharpness:
        reasons.append(f"The face is too blurred: sharpness {value:g}, at least {min_sharpness:g} needed.")
    if box.area and 1 - box.clipped(height, width).area / box.area > MAX_OUTSIDE_SHARE:
        reasons.append("The face is cut off by the edge of the image.")
    return FaceQuality(size_px=size_px, sharpness=value, ok=not reasons, reasons=reasons)
