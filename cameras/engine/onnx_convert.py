"""Convert dlib's face networks to ONNX, once, and keep the result under `VAR_DIR`.

`ensure_model(name)` gives the path of the converted file, converting on first
use: it reads the `.dat` of the installed `face_recognition_models` package with
`dlib_format`, rebuilds the same layers with the `onnx` package (no network, no
compiler), and writes `<VAR_DIR>/face_models/<name>.onnx` with a sidecar
`<name>.json` holding the source file's SHA-256, the ONNX file's SHA-256 and the
converter version. A file whose checksum, source digest or converter version no
longer matches is converted again (atomically; concurrent workers just race to
write the same bytes).

Two networks are known:
- `resnet`: `dlib_face_recognition_resnet_model_v1.dat`, input "chips" float32
  (N, 150, 150, 3) RGB 0-255 aligned face chips, output "descriptors" (N, 128).
- `mmod`: `mmod_human_face_detector.dat`, input "image" float32 (1, H, W, 3) RGB
  0-255, output "scores" (1, 1, H/8, W/8): dlib's detection score per window.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import face_recognition_models
import numpy as np
from django.conf import settings
from numpy.typing import NDArray

from .dlib_format import DlibFormatError, Layer, Network, read_network

if TYPE_CHECKING:  # onnx is imported only to convert
    from onnx import GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto

# Bump when the generated graph changes, so cached files are rebuilt.
CONVERTER_VERSION = 1
OPSET = 13

SOURCES = {
    "resnet": face_recognition_models.face_recognition_model_location,
    "mmod": face_recognition_models.cnn_face_detector_model_location,
}

_lock = threading.Lock()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_dir() -> Path:
    return Path(settings.VAR_DIR) / "face_models"


def source_path(name: str) -> Path:
    return Path(SOURCES[name]())


def cached_model(name: str) -> tuple[Path, dict[str, Any]] | None:
    """The converted file and its record if it is present, intact and made from the installed source."""
    target, record_path = model_dir() / f"{name}.onnx", model_dir() / f"{name}.json"
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("converter_version") != CONVERTER_VERSION or not target.is_file():
        return None
    if record.get("source_sha256") != file_sha256(source_path(name)):
        return None
    if record.get("onnx_sha256") != file_sha256(target):
        return None
    return target, record


def ensure_model(name: str, *, force: bool = False) -> tuple[Path, dict[str, Any]]:
    """The converted ONNX file of network `name` and its record, converting it if needed."""
    if not force and (found := cached_model(name)):
        return found
    with _lock:
        if not force and (found := cached_model(name)):
            return found
        return convert(name)


def convert(name: str) -> tuple[Path, dict[str, Any]]:
    """Convert network `name` now and write the ONNX file and its record."""
    import onnx  # only the conversion needs it

    source = source_path(name)
    data = source.read_bytes()
    network = read_network(data)
    model = build_resnet(network) if name == "resnet" else build_mmod(network)
    onnx.checker.check_model(model)
    payload = model.SerializeToString()
    record = {
        "name": name,
        "source": source.name,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "onnx_sha256": hashlib.sha256(payload).hexdigest(),
        "converter_version": CONVERTER_VERSION,
        "onnx_opset": OPSET,
    }
    if name == "mmod":
        record["mmod"] = network.loss.fields["raw"]
    folder = model_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.onnx"
    _write_atomic(target, payload)
    _write_atomic(folder / f"{name}.json", json.dumps(record, indent=2).encode())
    return target, record


def _write_atomic(path: Path, payload: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class _Graph:
    """A small ONNX graph builder that tracks the (static) shape of each value."""

    def __init__(self) -> None:
        self.nodes: list[NodeProto] = []
        self.inits: list[TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: NDArray[Any], hint: str) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _conv_affine(g: _Graph, x: str, layers: list[Layer], i: int) -> tuple[str, int]:
    """Conv at `layers[i]` (with the following affine layer, if any, folded into its weights:
    w*gamma, b*gamma + beta), and how many layer records that took."""
    con = layers[i]
    affine = layers[i + 1] if i + 1 < len(layers) and layers[i + 1].kind == "affine_" else None
    weight, bias = con.tensors["weight"], con.tensors["bias"]
    if affine is not None:
        if affine.fields["mode"] != 0:
            raise DlibFormatError("Only per-channel affine layers follow convolutions here.")
        gamma, beta = affine.tensors["gamma"], affine.tensors["beta"]
        weight = weight * gamma[:, None, None, None]
        bias = bias * gamma + beta
    pad_y, pad_x = con.fields["padding"]
    out = g.op(
        "Conv",
        [x, g.const(weight.astype(np.float32), "w"), g.const(bias.astype(np.float32), "b")],
        kernel_shape=[con.fields["nr"], con.fields["nc"]],
        strides=list(con.fields["stride"]),
        pads=[pad_y, pad_x, pad_y, pad_x],
    )
    return out, 2 if affine is not None else 1


def _out_size(size: int, window: int, stride: int, padding: int) -> int:
    # dlib's convolution and pooling output size (dlib/cuda/tensor_tools.h).
    return 1 + (size + 2 * padding - window) // stride


def _pad_to(g: _Graph, x: str, shape: tuple[int, ...], target: tuple[int, ...]) -> str:
    """Zero-pad (C, H, W) at the end to `target`: dlib's add_prev adds tensors of different
    sizes as if the smaller one were zero beyond its edge (dlib/cuda/cpu_dlib.cpp `add`)."""
    if shape == target:
        return x
    pads = [0, 0, 0, 0, 0, *(t - s for s, t in zip(shape, target, strict=True))]
    return g.op("Pad", [x, g.const(np.array(pads, dtype=np.int64), "pads")], mode="constant")


def _input_nodes(g: _Graph, network: Network, name: str, shape: list[int | str]) -> tuple[ValueInfoProto, str]:
    """NHWC RGB 0-255 in, dlib's input normalisation: (pixel - channel mean) / 256, NCHW."""
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    mean = np.array(network.input.fields["mean_rgb"], dtype=np.float32).reshape(1, 1, 1, 3)
    x = g.op("Sub", [name, g.const(mean, "mean")])
    x = g.op("Mul", [x, g.const(np.array(1 / 256, dtype=np.float32), "scale")])
    return value, g.op("Transpose", [x], perm=[0, 3, 1, 2])


def build_resnet(network: Network) -> ModelProto:
    """dlib's face ResNet (dnn_face_recognition_ex.cpp's anet_type) as an ONNX model.

    The layer records carry no tag ids, so the residual wiring follows that
    network's templates: `residual` = add_prev1<block<tag1<x>>> and
    `residual_down` = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<tag1<x>>>>>>;
    in input order a lone tag record is tag1, a pair is tag2 then skip1.
    """
    from onnx import TensorProto, helper

    if network.input.kind != "input_rgb_image_sized" or network.loss.kind != "loss_metric_2":
        raise DlibFormatError("Not dlib's face recognition ResNet.")
    size_y, size_x = network.input.fields["size"]
    g = _Graph()
    chips, x = _input_nodes(g, network, "chips", ["N", size_y, size_x, 3])
    shape: tuple[int, ...] = (3, size_y, size_x)
    layers = network.layers
    tag1: tuple[str, tuple[int, ...]] | None = None
    tag2: tuple[str, tuple[int, ...]] | None = None
    i = 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if layer.kind in ("con_4", "con_5"):
            x, used = _conv_affine(g, x, layers, i)
            f = layer.fields
            shape = (
                f["num_filters"],
                _out_size(shape[1], f["nr"], f["stride"][0], f["padding"][0]),
                _out_size(shape[2], f["nc"], f["stride"][1], f["padding"][1]),
            )
            i += used
            continue
        if layer.kind == "relu_":
            x = g.op("Relu", [x])
        elif layer.kind == "tag_or_skip":
            if nxt is not None and nxt.kind == "tag_or_skip":
                if tag1 is None:
                    raise DlibFormatError("A skip layer comes before any tag in the face ResNet.")
                tag2 = (x, shape)
                x, shape = tag1  # skip1: back to the block's input
                i += 2
                continue
            tag1, tag2 = (x, shape), None
        elif layer.kind in ("max_pool_2", "avg_pool_2"):
            f = layer.fields
            if f["nr"] == 0:  # avg_pool_everything
                x = g.op("GlobalAveragePool", [x])
                shape = (shape[0], 1, 1)
            else:
                py, px = f["padding"]
                x = g.op(
                    "MaxPool" if layer.kind == "max_pool_2" else "AveragePool",
                    [x],
                    kernel_shape=[f["nr"], f["nc"]],
                    strides=list(f["stride"]),
                    pads=[py, px, py, px],
                )
                shape = (
                    shape[0],
                    _out_size(shape[1], f["nr"], f["stride"][0], py),
                    _out_size(shape[2], f["nc"], f["stride"][1], px),
                )
        elif layer.kind == "add_prev_":
            if tag1 is None:
                raise DlibFormatError("An add_prev layer comes before any tag in the face ResNet.")
            other, other_shape = tag2 if tag2 is not None else tag1
            target = tuple(max(a, b) for a, b in zip(shape, other_shape, strict=True))
            x = g.op("Add", [_pad_to(g, x, shape, target), _pad_to(g, other, other_shape, target)])
            shape, tag2 = target, None
        elif layer.kind == "fc_2":
            if shape[0] * shape[1] * shape[2] != layer.fields["num_inputs"]:
                raise DlibFormatError("The fc layer does not fit the network.")
            x = g.op("Flatten", [x], axis=1)
            x = g.op("MatMul", [x, g.const(layer.tensors["weight"], "fc")])
            if layer.fields["bias_mode"] == 0:
                x = g.op("Add", [x, g.const(layer.tensors["bias"], "fc_bias")])
            shape = (layer.fields["num_outputs"],)
        else:
            raise DlibFormatError(f"Layer {layer.kind} is not expected in the face ResNet.")
        i += 1
    g.nodes.append(helper.make_node("Identity", [x], ["descriptors"]))
    output = helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["N", shape[0]])
    graph = helper.make_graph(g.nodes, "dlib_face_recognition_resnet_model_v1", [chips], [output], g.inits)
    return _model(graph)


def build_mmod(network: Network) -> ModelProto:
    """dlib's MMOD face detector network (dnn_mmod_face_detection_ex.cpp) as ONNX, without the pyramid.

    Only convolutions, affine layers and relus: a fully convolutional net whose
    output is one score per 8x8 step; the caller builds the image pyramid and
    reads the detections (see `mmod_engine`).
    """
    from onnx import TensorProto, helper

    if network.input.kind != "input_rgb_image_pyramid" or network.loss.kind != "loss_mmod_":
        raise DlibFormatError("Not dlib's MMOD face detector.")
    g = _Graph()
    image, x = _input_nodes(g, network, "image", [1, "H", "W", 3])
    layers = network.layers
    i = 0
    while i < len(layers):
        layer = layers[i]
        if layer.kind in ("con_4", "con_5"):
            x, used = _conv_affine(g, x, layers, i)
            i += used
            continue
        if layer.kind != "relu_":
            raise DlibFormatError(f"Layer {layer.kind} is not expected in the MMOD detector.")
        x = g.op("Relu", [x])
        i += 1
    g.nodes.append(helper.make_node("Identity", [x], ["scores"]))
    output = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, "h", "w"])
    graph = helper.make_graph(g.nodes, "mmod_human_face_detector", [image], [output], g.inits)
    return _model(graph)


def _model(graph: GraphProto) -> ModelProto:
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="campus")
    model.ir_version = 8  # readable by OpenCV's DNN module as well as onnxruntime
    return model
