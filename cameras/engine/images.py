"""Image handling for the face engine: safe decoding, scaling, crops and the motion gate.

Every image leaving this module is an RGB `uint8` array of shape (height, width, 3).
"""

from __future__ import annotations

import io
import warnings
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from .base import FaceBox, RGBImage

# MPO is how Pillow names the multi-picture JPEGs many phones and cameras write.
ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG"})

# Motion signature: a small blurred grayscale thumbnail. 96 px wide keeps a face of
# a 1080p frame at a few pixels, enough to see someone walk in, at ~1 ms a frame.
SIGNATURE_WIDTH = 96
# Per-pixel change (0-255) below which a difference is sensor noise or JPEG jitter.
MOTION_NOISE_FLOOR = 14
# A motion signature: the grayscale `uint8` thumbnail, (height, SIGNATURE_WIDTH).
Signature = NDArray[np.uint8]
# OpenCV's stubs type every result as MatLike (any numeric array); from uint8 input it returns
# uint8, hence the casts below.


class ImageRejected(Exception):
    """The bytes are not an image we accept; `reason` is a short code, the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def read_header(data: bytes) -> tuple[str, int, int]:
    """Format, width and height from the image header alone (nothing is decoded)."""
    if not data:
        raise ImageRejected("empty", "The image is empty.")
    try:
        with warnings.catch_warnings():
            # Pillow warns (or raises) about decompression bombs itself; we apply our own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:
                fmt, (width, height) = header.format or "", header.size
    except Image.DecompressionBombError:
        # Pillow refuses beyond twice its own limit; the dimensions are then surely too large.
        raise ImageRejected("too_large", "The image claims dimensions far too large to decode.")
    except (OSError, ValueError, SyntaxError):
        raise ImageRejected("not_an_image", "The data is not a readable image.")
    return fmt, width, height


REDUCED_COLOR = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def reduction_for(width: int, height: int, min_side: int) -> int:
    """The largest of 1, 2, 4, 8 that keeps the longer side at `min_side` or more."""
    longest = max(width, height)
    return max((n for n in (1, 2, 4, 8) if longest // n >= min_side), default=1)


def decode_image(
    data: bytes, *, max_pixels: int, formats: frozenset[str] = ACCEPTED_FORMATS, min_side: int | None = None
) -> RGBImage:
    """Decode JPEG/PNG bytes to RGB after checking the claimed dimensions against `max_pixels`.

    The header is read first, so a small file that claims a huge image is refused
    before any pixel memory is allocated. With `min_side`, a large image is decoded
    at 1/2, 1/4 or 1/8 of its size (JPEG scales while decoding, so the full picture
    is never in memory), keeping the longer side at `min_side` or more.
    """
    fmt, width, height = read_header(data)
    if fmt not in formats:
        raise ImageRejected("unsupported_format", f"Image format {fmt or 'unknown'} is not accepted; send JPEG or PNG.")
    if width <= 0 or height <= 0:
        raise ImageRejected("corrupt", "The image has no pixels.")
    if width * height > max_pixels:
        raise ImageRejected(
            "too_large", f"The image is {width}x{height} pixels; at most {max_pixels} pixels are accepted."
        )
    buffer = np.frombuffer(data, dtype=np.uint8)
    reduction = reduction_for(width, height, min_side) if min_side else 1
    try:
        bgr = cv2.imdecode(buffer, REDUCED_COLOR[reduction] if reduction > 1 else cv2.IMREAD_COLOR)
    except cv2.error:
        bgr = None
    if bgr is None or bgr.size == 0:
        raise ImageRejected("corrupt", "The image data is corrupt and could not be decoded.")
    # EXIF rotation may swap the sides; anything else means the header lied.
    expected = {(-(-width // reduction)) * (-(-height // reduction)), (width // reduction) * (height // reduction)}
    if bgr.shape[0] * bgr.shape[1] not in expected:
        raise ImageRejected("corrupt", "The decoded image does not match its header.")
    return cast(RGBImage, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr))  # in place: no second full-size copy


def from_bgr(frame: NDArray[np.uint8]) -> RGBImage:
    """An OpenCV (BGR) frame, as read from a stream, converted to the engine's RGB."""
    return cast(RGBImage, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def downscale(image: RGBImage, max_side: int) -> tuple[RGBImage, float]:
    """Shrink so the longer side is at most `max_side`; returns (image, scale) with scale <= 1.

    A box found in the small image maps back with `box.scaled(1 / scale)`.
    """
    height, width = image.shape[:2]
    longest = max(height, width)
    if max_side <= 0 or longest <= max_side:
        return image, 1.0
    scale: float = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cast(RGBImage, cv2.resize(image, size, interpolation=cv2.INTER_AREA)), scale


def motion_signature_from_bytes(data: bytes) -> Signature | None:
    """The motion signature (a small blurred grayscale thumbnail, compared by `motion_score`) straight
    from JPEG/PNG bytes, decoded at 1/8 size (several times cheaper than a full decode). None when
    OpenCV cannot read the data; call `decode_image` for the reason.

    Only for bytes already checked with `read_header` (the reduced decode has no size limit of its own).
    """
    try:
        small = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    except cv2.error:
        return None
    if small is None or small.size == 0:
        return None
    height, width = small.shape[:2]
    thumb_height = max(1, round(height * SIGNATURE_WIDTH / width))
    small = cv2.resize(small, (SIGNATURE_WIDTH, thumb_height), interpolation=cv2.INTER_AREA)
    return cast(Signature, cv2.GaussianBlur(small, (3, 3), 0))


def motion_score(prev_sig: Signature | None, cur_sig: Signature) -> float:
    """The fraction (0..1) of the thumbnail that changed beyond noise; 1.0 with nothing to compare."""
    if prev_sig is None or prev_sig.shape != cur_sig.shape:
        return 1.0
    diff = cv2.absdiff(prev_sig, cur_sig)
    return float(np.count_nonzero(diff > MOTION_NOISE_FLOOR)) / diff.size


def crop(image: RGBImage, box: FaceBox, margin: float = 0.25) -> RGBImage:
    """The face with `margin` (a fraction of the box size) added on each side, cut to the image."""
    height, width = image.shape[:2]
    pad_x, pad_y = round(box.width * margin), round(box.height * margin)
    grown = FaceBox(
        top=box.top - pad_y, right=box.right + pad_x, bottom=box.bottom + pad_y, left=box.left - pad_x
    ).clipped(height, width)
    return np.ascontiguousarray(image[grown.top : grown.bottom, grown.left : grown.right])


def encode_jpeg(image: RGBImage, quality: int = 90) -> bytes:
    """RGB array to JPEG bytes."""
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the image as JPEG.")
    return buffer.tobytes()
