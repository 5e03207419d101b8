"""The face-engine interface: what the cameras app may rely on, whatever the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

# An image as the engine takes it: RGB `uint8` of shape (height, width, 3).
RGBImage = NDArray[np.uint8]
# A face's vector (`dimension` float32 components).
Embedding = NDArray[np.float32]


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in pixel coordinates of the image it was found in (right/bottom exclusive)."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def scaled(self, factor: float) -> FaceBox:
        """The same box in an image `factor` times as large (factor 2.0 doubles every coordinate)."""
        return FaceBox(
            top=round(self.top * factor),
            right=round(self.right * factor),
            bottom=round(self.bottom * factor),
            left=round(self.left * factor),
        )

    def clipped(self, height: int, width: int) -> FaceBox:
        """The box cut to an image of `height` x `width` (detectors may return boxes past the edge)."""
        return FaceBox(
            top=max(0, min(self.top, height)),
            right=max(0, min(self.right, width)),
            bottom=max(0, min(self.bottom, height)),
            left=max(0, min(self.left, width)),
        )

    def iou(self, other: FaceBox) -> float:
        """Intersection over union of two boxes, 0.0 when they do not overlap."""
        inter = FaceBox(
            top=max(self.top, other.top),
            right=min(self.right, other.right),
            bottom=min(self.bottom, other.bottom),
            left=max(self.left, other.left),
        )
        if inter.width <= 0 or inter.height <= 0:
            return 0.0
        union = self.area + other.area - inter.area
        return inter.area / union if union > 0 else 0.0

    def as_list(self) -> list[int]:
        """`[top, right, bottom, left]`, the order stored beside sightings."""
        return [self.top, self.right, self.bottom, self.left]


@dataclass(frozen=True)
class FaceQuality:
    """Whether a face is good enough to enrol or to trust; `reasons` say why not."""

    size_px: int
    sharpness: float
    ok: bool
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DetectedFace:
    box: FaceBox
    score: float
    quality: FaceQuality


@runtime_checkable
class FaceEngine(Protocol):
    """Detects faces and turns one into a fixed-length vector.

    `name` and `version` are stored beside every embedding: vectors of different
    engines or versions are not comparable and must never be matched together.
    Images are RGB `uint8` arrays of shape (height, width, 3).
    """

    name: str
    version: str
    dimension: int

    def detect(self, image: RGBImage, *, upsample: int = 0) -> list[DetectedFace]: ...

    def embed(self, image: RGBImage, box: FaceBox) -> Embedding: ...

    def embed_many(self, image: RGBImage, boxes: list[FaceBox]) -> list[Embedding]: ...
