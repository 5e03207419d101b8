"""Converting dlib's networks to ONNX: the cache under VAR_DIR, its checks, the command."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
from django.core.management import CommandError, call_command

from cameras.engine import onnx_convert
from cameras.engine.dlib_format import DlibFormatError, Layer, Network, read_network


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def test_first_use_converts_then_reuses_the_cached_file(var_dir):
    path, record = onnx_convert.ensure_model("resnet")
    assert path == var_dir / "face_models" / "resnet.onnx"
    assert record["source"] == "dlib_face_recognition_resnet_model_v1.dat"
    assert record["source_sha256"] == onnx_convert.file_sha256(onnx_convert.source_path("resnet"))
    assert record["onnx_sha256"] == onnx_convert.file_sha256(path)
    assert json.loads((var_dir / "face_models" / "resnet.json").read_text()) == record
    written = path.stat().st_mtime_ns
    assert onnx_convert.ensure_model("resnet") == (path, record)
    assert path.stat().st_mtime_ns == written  # reused, not converted again

    # The converted network takes aligned chips and gives 128-d descriptors.
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"chips": np.full((2, 150, 150, 3), 120, dtype=np.float32)})
    assert out.shape == (2, 128) and np.isfinite(out).all()


def test_a_damaged_or_stale_cache_is_converted_again(var_dir):
    path, record = onnx_convert.ensure_model("resnet")
    path.write_bytes(path.read_bytes()[:-10])  # truncated: checksum fails
    assert onnx_convert.cached_model("resnet") is None
    path2, _ = onnx_convert.ensure_model("resnet")
    assert onnx_convert.file_sha256(path2) == record["onnx_sha256"]

    sidecar = var_dir / "face_models" / "resnet.json"
    sidecar.write_text(json.dumps({**record, "source_sha256": "0" * 64}))  # made from another model file
    assert onnx_convert.cached_model("resnet") is None
    assert onnx_convert.ensure_model("resnet")[1]["source_sha256"] == record["source_sha256"]


def test_command_checks_and_converts(var_dir, capsys):
    with pytest.raises(CommandError, match="Not converted"):
        call_command("convert_face_models", "--check")
    call_command("convert_face_models")
    call_command("convert_face_models", "--check")
    assert "resnet: " in capsys.readouterr().out
    assert (var_dir / "face_models" / "resnet.onnx").is_file()


def test_reader_parses_the_resnet_and_refuses_other_bytes():
    data = onnx_convert.source_path("resnet").read_bytes()
    network = read_network(data)
    assert network.input.fields["size"] == (150, 150)
    assert np.allclose(network.input.fields["mean_rgb"], (122.782, 117.001, 104.298))
    kinds = [layer.kind for layer in network.layers]
    assert kinds.count("con_4") == 29 and kinds[-1] == "fc_2"
    with pytest.raises(DlibFormatError):
        read_network(data[: len(data) // 2])
    with pytest.raises(DlibFormatError):
        read_network(b"\x01\x01\x01\x05hello")


@pytest.mark.parametrize("first", [["tag_or_skip", "tag_or_skip"], ["add_prev_"]])
def test_a_resnet_whose_skip_or_add_comes_before_any_tag_is_refused(first):
    # Found by mypy: these used to fail with a TypeError (unpacking None), which the command does not report.
    network = Network(
        loss=Layer("loss_metric_2"),
        input=Layer("input_rgb_image_sized", fields={"mean_rgb": (0.0, 0.0, 0.0), "size": (150, 150)}),
        layers=[Layer(kind) for kind in first],
    )
    with pytest.raises(DlibFormatError, match="before any tag"):
        onnx_convert.build_resnet(network)


def test_mmod_detector_converts_and_finds_the_face_hog_finds(var_dir):
    from cameras.engine.dlib_engine import DlibFaceEngine
    from cameras.engine.images import decode_image
    from cameras.engine.mmod import MmodDetector

    image = decode_image(
        (onnx_convert.settings.BASE_DIR / "cameras/tests/fixtures/faces/obama_480p.jpg").read_bytes(),
        max_pixels=50_000_000,
    )
    detector = MmodDetector()
    record = json.loads((var_dir / "face_models" / "mmod.json").read_text())
    assert record["mmod"]["window"] == [80, 80] and record["source"] == "mmod_human_face_detector.dat"
    (face,) = detector.detect(image)
    (hog,) = DlibFaceEngine().detect(image)
    assert face.score > 0.5 and face.box.iou(hog.box) > 0.5
    assert detector.detect(np.full((240, 320, 3), 200, dtype=np.uint8)) == []
