"""The ONNX engine against dlib, the reference: same vectors, same decisions, on every fixture face.

This is what lets both engines share one name and version (stored enrolments
stay valid whichever engine made them): if it fails, the ONNX engine must get a
version of its own and enrolments must be re-computed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cameras.engine.dlib_engine import DlibFaceEngine
from cameras.engine.gallery import Gallery
from cameras.engine.images import decode_image
from cameras.engine.onnx_engine import OnnxFaceEngine

FACES = Path(__file__).parent / "fixtures" / "faces"
TOLERANCE = 1e-3
OBAMA, BIDEN = 1, 2


@pytest.fixture(scope="module")
def engines() -> tuple[DlibFaceEngine, OnnxFaceEngine]:
    return DlibFaceEngine(), OnnxFaceEngine()


def fixture_faces(engine: DlibFaceEngine) -> list[tuple[str, np.ndarray, list]]:
    """Every face of every fixture photo, at full size and at half size (smaller chips, other pixels)."""
    cases = []
    for path in sorted(FACES.glob("*.jpg")):
        image = decode_image(path.read_bytes(), max_pixels=50_000_000)
        half = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
        for label, picture in ((path.name, image), (f"{path.name} at half size", half)):
            faces = engine.detect(picture, upsample=1)
            if faces:
                cases.append((label, picture, [face.box for face in faces]))
    return cases


@pytest.fixture(scope="module")
def vectors(engines):
    dlib_engine, onnx_engine = engines
    cases = fixture_faces(dlib_engine)
    reference = np.vstack([np.stack(dlib_engine.embed_many(image, boxes)) for _, image, boxes in cases])
    fast = np.vstack([np.stack(onnx_engine.embed_many(image, boxes)) for _, image, boxes in cases])
    labels = [label for label, _, boxes in cases for _ in boxes]
    return labels, reference, fast


def test_every_fixture_face_gets_the_same_descriptor_from_both_engines(vectors):
    labels, reference, fast = vectors
    # All six photos, both sizes; obama_and_biden.jpg has two faces.
    assert len(labels) >= 12 and fast.shape == reference.shape and fast.shape[1] == 128
    differences = np.abs(fast - reference).max(axis=1)
    assert all(differences <= TOLERANCE), {
        label: float(diff) for label, diff in zip(labels, differences, strict=True) if diff > TOLERANCE
    }
    # Not trivially equal: the descriptors are real, distinct vectors (norm ~1).
    assert np.all(np.linalg.norm(reference, axis=1) > 0.5)
    assert len({tuple(np.round(row, 3)) for row in reference}) > len(labels) // 2


def test_every_match_decision_on_the_fixtures_is_the_same_with_both_engines(engines, vectors, settings):
    _, reference, fast = vectors
    threshold, margin = settings.FACE_MATCH_THRESHOLD, settings.FACE_MATCH_MARGIN
    galleries = {}
    for name, engine in zip(("dlib", "onnx"), engines, strict=True):
        enrol = []
        for photo in ("obama.jpg", "biden.jpg"):
            image = decode_image((FACES / photo).read_bytes(), max_pixels=50_000_000)
            (face,) = engine.detect(image)
            enrol.append(engine.embed(image, face.box))
        galleries[name] = Gallery([OBAMA, BIDEN], np.stack(enrol))

    def decisions(gallery, queries):
        return [(m.student_id, m.reason) for m in gallery.match_many(queries, threshold=threshold, margin=margin)]

    expected = decisions(galleries["dlib"], reference)
    # Both people are recognised somewhere, so the comparison covers real matches.
    assert {OBAMA, BIDEN} <= {student for student, _ in expected}
    assert decisions(galleries["onnx"], fast) == expected
    # Mixed: faces seen by one engine against enrolments made by the other.
    assert decisions(galleries["dlib"], fast) == expected
    assert decisions(galleries["onnx"], reference) == expected


def test_both_engines_share_name_version_and_detector(engines):
    dlib_engine, onnx_engine = engines
    assert (onnx_engine.name, onnx_engine.version, onnx_engine.dimension) == (
        dlib_engine.name,
        dlib_engine.version,
        dlib_engine.dimension,
    )
    image = decode_image((FACES / "obama_and_biden.jpg").read_bytes(), max_pixels=50_000_000)
    assert [f.box for f in onnx_engine.detect(image)] == [f.box for f in dlib_engine.detect(image)]
    # The converted file records the digest of the very model file the version names.
    assert onnx_engine.model_record["source_sha256"].startswith(onnx_engine.version.split("-")[1].split("+")[0])


def test_chips_are_dlibs_150_px_aligned_faces(engines):
    _, onnx_engine = engines
    image = decode_image((FACES / "obama_and_biden.jpg").read_bytes(), max_pixels=50_000_000)
    boxes = [face.box for face in onnx_engine.detect(image)]
    chips = onnx_engine.chips(image, boxes)
    assert chips.shape == (2, 150, 150, 3) and chips.dtype == np.uint8
    assert not np.array_equal(chips[0], chips[1])
