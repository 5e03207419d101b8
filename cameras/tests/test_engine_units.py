"""Face-engine pieces that need no model: image decoding, motion gate, gallery rule, tracker."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cameras.engine import images
from cameras.engine.base import FaceBox
from cameras.engine.gallery import ABOVE_THRESHOLD, AMBIGUOUS, MATCHED, NO_CANDIDATES, Gallery
from cameras.engine.images import (
    ImageRejected,
    crop,
    decode_image,
    downscale,
    encode_jpeg,
    motion_score,
    motion_signature_from_bytes,
)
from cameras.engine.tracking import FaceTracker

FACES = Path(__file__).parent / "fixtures" / "faces"


def png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Fail the test if anything reaches OpenCV's decoder."""

    def refuse(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(images.cv2, "imdecode", refuse)


# --- boxes ------------------------------------------------------------------


def test_box_size_scaling_clipping_and_overlap():
    box = FaceBox(top=10, right=50, bottom=40, left=20)
    assert (box.width, box.height, box.area) == (30, 30, 900)
    assert box.scaled(2.0) == FaceBox(top=20, right=100, bottom=80, left=40)
    assert FaceBox(top=-5, right=120, bottom=90, left=-10).clipped(80, 100) == FaceBox(0, 100, 80, 0)
    assert box.iou(box) == 1.0
    assert box.iou(FaceBox(top=10, right=80, bottom=40, left=50)) == 0.0  # touching edges only
    assert box.iou(FaceBox(top=10, right=65, bottom=40, left=35)) == pytest.approx(450 / 1350)
    assert box.as_list() == [10, 50, 40, 20]


# --- decoding ---------------------------------------------------------------


def test_decode_gives_rgb_in_the_original_size():
    bgr = np.zeros((30, 40, 3), dtype=np.uint8)
    bgr[:, :, 2] = 255  # red in OpenCV's BGR order
    _, png = cv2.imencode(".png", bgr)
    image = decode_image(png.tobytes(), max_pixels=10_000)
    assert image.shape == (30, 40, 3) and image.dtype == np.uint8
    assert image[0, 0].tolist() == [255, 0, 0]


def test_decode_reads_a_real_jpeg():
    assert decode_image((FACES / "obama_480p.jpg").read_bytes(), max_pixels=1_000_000).shape == (480, 853, 3)


@pytest.mark.parametrize("header", [png_header(60000, 60000), jpeg_header(60000, 60000)], ids=["png", "jpeg"])
def test_huge_claimed_dimensions_are_refused_before_decoding(header, no_pixel_decoding):
    with pytest.raises(ImageRejected) as refused:
        decode_image(header, max_pixels=40_000_000)
    assert refused.value.reason == "too_large"


def test_dimensions_just_over_the_limit_are_refused_with_the_figures(no_pixel_decoding):
    with pytest.raises(ImageRejected) as refused:
        decode_image(png_header(5000, 5000), max_pixels=20_000_000)
    assert refused.value.reason == "too_large"
    assert "5000x5000" in refused.value.message


@pytest.mark.parametrize("data", [b"", b"not an image at all", bytes(range(256)) * 10], ids=["empty", "text", "noise"])
def test_bytes_that_are_not_an_image_are_refused(data, no_pixel_decoding):
    with pytest.raises(ImageRejected) as refused:
        decode_image(data, max_pixels=1_000_000)
    assert refused.value.reason in {"empty", "not_an_image"}


def test_a_valid_header_with_corrupt_pixels_is_refused():
    # A PNG header saying 64x64 followed by garbage instead of compressed pixels.
    data = png_header(64, 64)[:-12] + b"\x00\x00\x00\x10IDAT" + b"garbage-garbage!" + b"\x00" * 4
    with pytest.raises(ImageRejected) as refused:
        decode_image(data, max_pixels=1_000_000)
    assert refused.value.reason == "corrupt"


def test_multi_picture_jpeg_from_a_phone_is_accepted():
    first = Image.fromarray(np.full((40, 60, 3), 100, dtype=np.uint8))
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[first])
    assert decode_image(buffer.getvalue(), max_pixels=10_000).shape == (40, 60, 3)


def test_other_formats_are_refused():
    _, bmp = cv2.imencode(".bmp", np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ImageRejected) as refused:
        decode_image(bmp.tobytes(), max_pixels=1_000_000)
    assert refused.value.reason == "unsupported_format"


# --- scaling, crops, JPEG ----------------------------------------------------


def test_downscale_limits_the_longer_side_and_reports_the_scale():
    small, scale = downscale(np.zeros((1080, 1920, 3), dtype=np.uint8), 960)
    assert small.shape == (540, 960, 3) and scale == 0.5
    box = FaceBox(top=100, right=300, bottom=200, left=200)
    assert box.scaled(scale).scaled(1 / scale) == box
    untouched, same = downscale(np.zeros((100, 200, 3), dtype=np.uint8), 960)
    assert untouched.shape == (100, 200, 3) and same == 1.0


def test_crop_adds_the_margin_and_stays_inside_the_image():
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    assert crop(image, FaceBox(top=40, right=60, bottom=60, left=40), 0.5).shape == (40, 40, 3)
    assert crop(image, FaceBox(top=-10, right=30, bottom=30, left=-10), 0.25).shape == (40, 40, 3)


def test_encode_jpeg_round_trips():
    image = np.full((20, 30, 3), (10, 120, 250), dtype=np.uint8)
    back = decode_image(encode_jpeg(image), max_pixels=10_000)
    assert back.shape == image.shape
    assert np.abs(back.astype(int) - image.astype(int)).max() < 8


# --- motion gate -------------------------------------------------------------


def signature_of(image: np.ndarray) -> np.ndarray:
    """The motion signature intake computes, from the image as lossless PNG bytes."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return motion_signature_from_bytes(png.tobytes())


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return decode_image((FACES / "obama_480p.jpg").read_bytes(), max_pixels=1_000_000)


def test_identical_frames_have_no_motion(frame):
    assert motion_score(signature_of(frame), signature_of(frame.copy())) == 0.0


def test_recompressed_frame_stays_under_the_motion_gate(frame, settings):
    noisy = decode_image(encode_jpeg(frame, quality=60), max_pixels=1_000_000)
    assert motion_score(signature_of(frame), signature_of(noisy)) < settings.FACE_MOTION_MIN_CHANGE


def test_a_person_moving_passes_the_motion_gate(frame, settings):
    moved = np.roll(frame, 40, axis=1)  # everything shifted 40 px, as when someone walks across
    score = motion_score(signature_of(frame), signature_of(moved))
    assert score > 10 * settings.FACE_MOTION_MIN_CHANGE


def test_a_small_change_in_one_corner_passes_the_motion_gate(frame, settings):
    changed = frame.copy()
    # An 80x80 px patch changes (a head entering the view at the side of the frame).
    changed[300:380, 700:780] = 255 - changed[300:380, 700:780]
    assert motion_score(signature_of(frame), signature_of(changed)) > settings.FACE_MOTION_MIN_CHANGE


def test_a_small_face_appearing_in_a_1080p_frame_passes_the_motion_gate(frame, settings):
    scene = cv2.resize(frame, (1920, 1080), interpolation=cv2.INTER_LINEAR)
    face = cv2.resize(frame[65:190, 383:508], (36, 36), interpolation=cv2.INTER_AREA)  # the face, shrunk
    changed = scene.copy()
    changed[700:736, 200:236] = face  # someone 36 px tall-faced looks up at the back of the room
    noisy = np.clip(scene + np.random.default_rng(1).normal(0, 8, scene.shape), 0, 255).astype(np.uint8)
    before = signature_of(scene)
    assert motion_score(before, signature_of(changed)) > settings.FACE_MOTION_MIN_CHANGE
    assert motion_score(before, signature_of(noisy)) < settings.FACE_MOTION_MIN_CHANGE


def test_first_frame_or_new_resolution_counts_as_motion(frame):
    assert motion_score(None, signature_of(frame)) == 1.0
    small, _ = downscale(frame, 320)
    assert motion_score(signature_of(frame), signature_of(small[:100])) == 1.0


def test_signature_from_bytes_agrees_with_the_decoded_frame(frame, settings):
    data = (FACES / "obama_480p.jpg").read_bytes()
    from_bytes = motion_signature_from_bytes(data)
    assert from_bytes is not None and from_bytes.shape == signature_of(frame).shape
    assert motion_score(from_bytes, motion_signature_from_bytes(data)) == 0.0
    assert motion_signature_from_bytes(b"junk") is None


# --- gallery -----------------------------------------------------------------


def unit(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


@pytest.fixture
def gallery() -> Gallery:
    # Student 7 has two enrolments; the nearest one counts.
    return Gallery(
        [7, 9, 7, 11],
        np.stack([unit(0, 0, 0), unit(1, 0, 0), unit(0.3, 0, 0), unit(0, 1, 0)]),
        version=3,
    )


def test_nearest_student_uses_their_closest_enrolment(gallery):
    match = gallery.match(unit(0.35, 0, 0), threshold=0.5, margin=0.1)
    assert (match.student_id, match.reason) == (7, MATCHED)
    assert match.distance == pytest.approx(0.05, abs=1e-3)
    assert match.runner_up_id == 9 and match.runner_up_distance == pytest.approx(0.65, abs=1e-3)


def test_too_far_from_everyone_is_unknown(gallery):
    match = gallery.match(unit(0, 0, 2), threshold=0.5, margin=0.1)
    assert (match.student_id, match.reason) == (None, ABOVE_THRESHOLD)
    assert match.distance == pytest.approx(2.0, abs=1e-3)


def test_a_runner_up_within_the_margin_makes_the_face_unknown(gallery):
    # 0.35 from student 7's nearest (0.3,0,0)... and 0.35 from student 9 at (1,0,0): a tie.
    tie = gallery.match(unit(0.65, 0, 0), threshold=0.5, margin=0.05)
    assert (tie.student_id, tie.reason) == (None, AMBIGUOUS)
    # 0.31 vs 0.39: inside the threshold, but only 0.08 apart.
    close = gallery.match(unit(0.61, 0, 0), threshold=0.5, margin=0.1)
    assert (close.student_id, close.reason, close.candidate_id) == (None, AMBIGUOUS, 7)
    assert gallery.match(unit(0.61, 0, 0), threshold=0.5, margin=0.05).student_id == 7


def test_restrict_to_limits_candidates(gallery):
    face = unit(0.1, 0.9, 0)  # nearest is 11 (0.14), then 7 (0.91)
    assert gallery.match(face, threshold=0.5, margin=0.1).student_id == 11
    only_seven = gallery.match(face, threshold=1.5, margin=0.1, restrict_to={7})
    # 7 is within this loose threshold, but 11 outside the set is closer: never a match for 7.
    assert (only_seven.student_id, only_seven.candidate_id, only_seven.reason) == (None, 7, AMBIGUOUS)
    assert only_seven.runner_up_id == 11


def test_restrict_to_matches_inside_the_set(gallery):
    match = gallery.match(unit(0.02, 0, 0), threshold=0.5, margin=0.1, restrict_to={7, 11})
    assert (match.student_id, match.reason) == (7, MATCHED)


def test_restrict_to_students_not_in_the_gallery_gives_no_candidates(gallery):
    match = gallery.match(unit(0, 0, 0), threshold=0.5, margin=0.1, restrict_to={404})
    assert (match.student_id, match.reason) == (None, NO_CANDIDATES)
    assert gallery.match(unit(0, 0, 0), threshold=0.5, margin=0.1, restrict_to=set()).reason == NO_CANDIDATES


def test_empty_gallery_knows_no_one():
    match = Gallery.empty(3).match(unit(0, 0, 0), threshold=0.5, margin=0.1)
    assert (match.student_id, match.reason) == (None, NO_CANDIDATES)
    assert len(Gallery.empty(3)) == 0


def test_single_student_gallery_has_no_runner_up():
    match = Gallery([5], np.stack([unit(0, 0, 0)])).match(unit(0.1, 0, 0), threshold=0.5, margin=0.1)
    assert match.student_id == 5 and match.runner_up_distance == float("inf")


def test_match_many_agrees_with_match(gallery):
    faces = np.stack([unit(0.35, 0, 0), unit(0, 0, 2), unit(0.1, 0.9, 0)])
    many = gallery.match_many(faces, threshold=0.5, margin=0.1)
    assert many == [gallery.match(face, threshold=0.5, margin=0.1) for face in faces]
    assert gallery.match_many(np.zeros((0, 3), dtype=np.float32), threshold=0.5, margin=0.1) == []


def test_gallery_refuses_vectors_of_another_dimension(gallery):
    with pytest.raises(ValueError, match="dimensions"):
        gallery.match(np.zeros(4, dtype=np.float32), threshold=0.5, margin=0.1)
    with pytest.raises(ValueError):
        Gallery([1, 2], np.zeros((3, 3)))


def test_gallery_lists_its_students_and_version(gallery):
    assert gallery.students.tolist() == [7, 9, 11]
    assert len(gallery) == 4 and gallery.version == 3
    assert 9 in gallery and 10 not in gallery


# --- tracker -----------------------------------------------------------------

BOX = FaceBox(top=100, right=200, bottom=200, left=100)
NUDGED = FaceBox(top=104, right=206, bottom=204, left=106)  # IoU ~0.82 with BOX


def test_tracker_misses_then_hits_a_face_at_the_same_place():
    tracker = FaceTracker(min_iou=0.5, max_gap_seconds=3, reverify_seconds=15)
    assert tracker.lookup("cam", BOX, at=0.0) is None
    tracker.remember("cam", BOX, at=0.0, student_id=7, distance=0.3)
    track = tracker.lookup("cam", NUDGED, at=1.0)
    assert track is not None and track.student_id == 7 and track.box == NUDGED
    assert (tracker.hits, tracker.misses) == (1, 1)


def test_tracker_misses_elsewhere_on_another_camera_or_after_a_gap():
    tracker = FaceTracker(min_iou=0.5, max_gap_seconds=3, reverify_seconds=15)
    tracker.remember("cam", BOX, at=0.0, student_id=7, distance=0.3)
    assert tracker.lookup("cam", FaceBox(top=100, right=400, bottom=200, left=300), at=1.0) is None
    assert tracker.lookup("other-cam", BOX, at=1.0) is None
    assert tracker.lookup("cam", BOX, at=4.5) is None  # not seen for 4.5 s: the track is gone
    assert tracker.lookup("cam", BOX, at=5.0) is None


def test_tracker_forces_a_fresh_match_after_the_reverify_time():
    tracker = FaceTracker(min_iou=0.5, max_gap_seconds=3, reverify_seconds=5)
    tracker.remember("cam", BOX, at=0.0, student_id=7, distance=0.3)
    for second in (1.0, 2.0, 3.0, 4.0, 5.0):
        assert tracker.lookup("cam", BOX, at=second) is not None
    assert tracker.lookup("cam", BOX, at=6.0) is None  # steadily seen, but last verified 6 s ago


def test_a_new_match_replaces_an_overlapping_track():
    tracker = FaceTracker()
    tracker.remember("cam", BOX, at=0.0, student_id=7, distance=0.3)
    tracker.remember("cam", NUDGED, at=1.0, student_id=9, distance=0.3)
    assert tracker.lookup("cam", BOX, at=1.5).student_id == 9


def test_the_least_recently_used_camera_is_dropped_beyond_the_limit():
    tracker = FaceTracker(max_cameras=2)
    tracker.remember("a", BOX, at=0.0, student_id=7, distance=0.3)
    tracker.remember("b", BOX, at=0.0, student_id=8, distance=0.3)
    assert tracker.lookup("a", BOX, at=0.5) is not None  # "a" is now the most recent
    tracker.remember("c", BOX, at=1.0, student_id=9, distance=0.3)
    assert tracker.lookup("a", BOX, at=1.0) is not None
    assert tracker.lookup("b", BOX, at=1.0) is None


def test_forget_drops_tracks():
    tracker = FaceTracker()
    tracker.remember("cam", BOX, at=0.0, student_id=7, distance=0.3)
    tracker.forget("cam")
    assert tracker.lookup("cam", BOX, at=0.5) is None
    tracker.remember("cam", BOX, at=0.0, student_id=7, distance=0.3)
    tracker.forget()
    assert tracker.lookup("cam", BOX, at=0.5) is None
