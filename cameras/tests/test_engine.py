"""The dlib face engine on real photos (fixtures/faces, see its README). No database needed."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import cameras.engine as engine_module
from cameras.engine import detect_faces, get_engine
from cameras.engine.base import FaceBox, FaceEngine
from cameras.engine.dlib_engine import DlibFaceEngine
from cameras.engine.gallery import ABOVE_THRESHOLD, MATCHED, Gallery
from cameras.engine.images import decode_image
from cameras.engine.onnx_engine import OnnxFaceEngine
from cameras.engine.quality import assess

FACES = Path(__file__).parent / "fixtures" / "faces"
OBAMA, BIDEN = 1, 2


def load(name: str) -> np.ndarray:
    return decode_image((FACES / name).read_bytes(), max_pixels=50_000_000)


@pytest.fixture(scope="module")
def engine() -> FaceEngine:
    # The process-wide engine: dlib's models load once for the whole test session.
    return get_engine()


@pytest.fixture(scope="module")
def enrolled(engine) -> Gallery:
    """Obama enrolled from obama.jpg, Biden from biden.jpg, one vector each."""
    vectors, ids = [], []
    for student_id, name in ((OBAMA, "obama.jpg"), (BIDEN, "biden.jpg")):
        image = load(name)
        (face,) = engine.detect(image)
        vectors.append(engine.embed(image, face.box))
        ids.append(student_id)
    return Gallery(ids, np.stack(vectors), version=1)


def single_face_vector(engine, name: str) -> np.ndarray:
    image = load(name)
    faces = engine.detect(image, upsample=1 if max(image.shape[:2]) < 500 else 0)
    assert len(faces) == 1, f"{name}: {len(faces)} faces"
    return engine.embed(image, faces[0].box)


def test_default_engine_is_dlibs_networks_on_onnxruntime_with_a_versioned_128_d_descriptor(engine):
    # The fast engine is dlib's (same detector, landmarks, ResNet weights), hence dlib's name.
    assert isinstance(engine, OnnxFaceEngine) and isinstance(engine, DlibFaceEngine)
    assert isinstance(engine, FaceEngine)
    assert (engine.name, engine.dimension) == ("dlib", 128)
    assert engine.version.startswith("resnet_v1-")


def test_portrait_has_one_face_with_a_plausible_box(engine):
    image = load("obama.jpg")
    faces = engine.detect(image)
    assert len(faces) == 1
    face = faces[0]
    # The face sits in the upper middle of the 910x1137 portrait.
    assert 200 < face.box.width < 350 and abs(face.box.width - face.box.height) <= 2
    assert 300 < (face.box.left + face.box.right) / 2 < 600
    assert face.score > 0.5
    assert face.quality.ok and face.quality.reasons == []


def test_two_person_photo_has_two_faces(engine):
    faces = engine.detect(load("obama_and_biden.jpg"))
    assert len(faces) == 2
    left, right = sorted(faces, key=lambda f: f.box.left)
    assert left.box.right < right.box.left


def test_blank_image_has_no_face(engine):
    assert engine.detect(np.full((480, 640, 3), 200, dtype=np.uint8), upsample=1) == []


def test_detect_faces_on_a_downscaled_copy_reports_full_size_boxes(engine):
    image = load("obama.jpg")
    (full,) = engine.detect(image)
    (scaled,) = detect_faces(image, max_side=480, upsample=0)
    # The same face (HOG's pyramid steps move the box a little); quality judged at full size.
    assert scaled.box.iou(full.box) > 0.7
    assert scaled.quality.size_px == min(scaled.box.width, scaled.box.height) > 200
    assert detect_faces(image, max_side=0) == engine.detect(image)


def test_detect_refuses_an_image_that_is_not_rgb(engine):
    with pytest.raises(ValueError, match="RGB uint8"):
        engine.detect(np.zeros((100, 100), dtype=np.uint8))


def test_embedding_is_float32_of_the_engine_dimension(engine):
    image = load("obama_480p.jpg")
    (face,) = engine.detect(image)
    vector = engine.embed(image, face.box)
    assert vector.dtype == np.float32 and vector.shape == (128,)
    assert 0.5 < float(np.linalg.norm(vector)) < 1.5


def test_embed_many_gives_the_same_vectors_as_embed(engine):
    image = load("obama_and_biden.jpg")
    boxes = [face.box for face in engine.detect(image)]
    batch = engine.embed_many(image, boxes)
    assert len(batch) == 2
    for box, vector in zip(boxes, batch, strict=True):
        np.testing.assert_allclose(vector, engine.embed(image, box), atol=1e-5)
    assert engine.embed_many(image, []) == []


@pytest.mark.parametrize("name", ["obama2.jpg", "obama_small.jpg", "obama_480p.jpg"])
def test_other_photos_of_obama_match_his_enrolment(engine, enrolled, settings, name):
    match = enrolled.match(
        single_face_vector(engine, name), threshold=settings.FACE_MATCH_THRESHOLD, margin=settings.FACE_MATCH_MARGIN
    )
    assert (match.student_id, match.reason) == (OBAMA, MATCHED)
    assert match.distance <= settings.FACE_MATCH_THRESHOLD
    assert match.runner_up_distance - match.distance >= settings.FACE_MATCH_MARGIN


def test_both_faces_of_the_two_person_photo_match_the_right_students(engine, enrolled, settings):
    image = load("obama_and_biden.jpg")
    faces = sorted(engine.detect(image), key=lambda f: f.box.left)
    matches = enrolled.match_many(
        engine.embed_many(image, [f.box for f in faces]),
        threshold=settings.FACE_MATCH_THRESHOLD,
        margin=settings.FACE_MATCH_MARGIN,
    )
    assert [m.student_id for m in matches] == [OBAMA, BIDEN]


def test_biden_does_not_match_an_obama_only_gallery(engine, enrolled, settings):
    vector = single_face_vector(engine, "biden.jpg")
    obama_only = Gallery([OBAMA], enrolled._vectors[enrolled._ids == OBAMA])
    match = obama_only.match(vector, threshold=settings.FACE_MATCH_THRESHOLD, margin=settings.FACE_MATCH_MARGIN)
    assert match.student_id is None
    assert match.reason == ABOVE_THRESHOLD
    assert match.candidate_id == OBAMA and match.distance > 0.7


def test_obama_is_unknown_when_only_biden_may_be_matched(engine, enrolled, settings):
    match = enrolled.match(
        single_face_vector(engine, "obama2.jpg"),
        threshold=settings.FACE_MATCH_THRESHOLD,
        margin=settings.FACE_MATCH_MARGIN,
        restrict_to={BIDEN},
    )
    assert match.student_id is None and match.candidate_id == BIDEN


def test_a_small_face_is_reported_too_small(engine):
    image = load("obama.jpg")
    (face,) = engine.detect(image)
    small = cv2.resize(image, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA)
    quality = assess(small, face.box.scaled(0.15), min_size=64, min_sharpness=0)
    assert not quality.ok
    assert quality.size_px < 64
    assert quality.reasons == [f"The face is too small: {quality.size_px} px across, at least 64 px needed."]


def test_a_blurred_face_is_reported_too_blurred(engine, settings):
    image = load("obama.jpg")
    (face,) = engine.detect(image)
    sharp = assess(image, face.box)
    blurred = assess(cv2.GaussianBlur(image, (0, 0), face.box.width * 0.015), face.box)
    assert sharp.ok and sharp.sharpness > settings.FACE_MIN_SHARPNESS
    assert not blurred.ok
    assert len(blurred.reasons) == 1 and blurred.reasons[0].startswith("The face is too blurred")
    assert blurred.sharpness < settings.FACE_MIN_SHARPNESS


def test_a_face_cut_by_the_image_edge_is_reported(engine):
    image = load("obama.jpg")
    (face,) = engine.detect(image)
    # Keep only the right half of the face: the box now sticks out on the left.
    cut = np.ascontiguousarray(image[:, (face.box.left + face.box.right) // 2 :])
    offset = (face.box.left + face.box.right) // 2
    box = FaceBox(face.box.top, face.box.right - offset, face.box.bottom, face.box.left - offset)
    quality = assess(cut, box)
    assert "The face is cut off by the edge of the image." in quality.reasons


class CountingEngine:
    name, version, dimension = "counting", "1", 4
    built = 0
    lock = threading.Lock()

    def __init__(self):
        with CountingEngine.lock:
            CountingEngine.built += 1


def test_get_engine_builds_one_instance_under_concurrent_first_calls(settings, monkeypatch):
    monkeypatch.setattr(engine_module, "_engine", None)
    monkeypatch.setattr(engine_module, "_engine_path", None)
    settings.FACE_ENGINE = "cameras.tests.test_engine.CountingEngine"
    CountingEngine.built = 0
    results, barrier = [], threading.Barrier(8)

    def call():
        barrier.wait()
        results.append(get_engine())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert CountingEngine.built == 1
    assert len({id(result) for result in results}) == 1
    assert isinstance(results[0], CountingEngine)


def test_bare_engine_run_of_the_benchmark_embeds_the_face_of_a_frame(engine, enrolled, settings):
    from bench.bench_engine import bare_engine_run

    (vector,) = bare_engine_run((FACES / "obama_480p.jpg").read_bytes())
    match = enrolled.match(vector, threshold=settings.FACE_MATCH_THRESHOLD, margin=settings.FACE_MATCH_MARGIN)
    assert match.student_id == OBAMA
