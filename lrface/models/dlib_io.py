"""Read dlib's DNN serialisation (``.dat``) with numpy alone: no dlib at run time.

dlib writes a network as nested records (``dlib/serialize.h``, ``dlib/dnn/core.h``,
``dlib/dnn/layers.h``, ``dlib/cuda/tensor.h``):

* an **integer** is a control byte (low 4 bits: how many magnitude bytes follow; bit 0x80:
  negative) and then the magnitude, little-endian;
* a **float/double** is two integers, mantissa then exponent (value ``m * 2**e``);
* a **string** is an integer length and then the bytes; a **bool** is the ASCII byte '0'/'1';
* a **tensor** is version 2, four integers ``n, k, rows, cols``, then raw little-endian
  float32; an alias tensor (a view into a layer's one parameter tensor) is version 1 and the
  four integers only.

A network file starts with the loss layer (version, then its details), then every layer's
version number from the top of the network down (tags and skips are nothing but a version),
then, from the bottom layer up, each computational layer's details (a type string such as
``con_4`` followed by its fields), three bools and three tensors (gradients and cached
outputs, empty in a saved model). The bottom layer also holds the input layer
(``input_rgb_image_sized``: mean R, G, B and the chip size).

:func:`read_dlib_dnn` returns that structure: the loss, the version list and the layer records
bottom-up, each with its parameters as numpy arrays. It refuses a file it does not consume
to the last byte, so a format it misreads cannot pass silently.

Example:
    >>> net = read_dlib_dnn("dlib_face_recognition_resnet_model_v1.dat")   # doctest: +SKIP
    >>> [r.kind for r in net.layers[:4]]                                   # doctest: +SKIP
    ['con', 'affine', 'relu', 'max_pool']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from lrface.errors import WeightsError

__all__ = ["DlibLayer", "DlibNet", "read_dlib_dnn", "is_dlib_dnn"]

PathLike = Union[str, Path]


@dataclass
class DlibLayer:
    """One computational layer record.

    Attributes:
        kind: ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``add_prev`` or ``fc``.
        version: dlib's type string (``con_4``, ``affine_``, ...).
        fields: hyper-parameters (``num_filters``, ``kernel``, ``stride``, ``padding``, ...).
        arrays: parameters: ``weight`` and ``bias`` for ``con`` (weight ``[out, in, kh, kw]``),
            ``gamma`` and ``beta`` for ``affine``, ``weight`` ``[in, out]`` for ``fc``.
    """

    kind: str
    version: str
    fields: Dict[str, Any] = field(default_factory=dict)
    arrays: Dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class DlibNet:
    """A parsed network: loss details, the top-down version list, the layers bottom-up."""

    loss: Dict[str, Any]
    versions: List[int]
    input: Dict[str, Any]
    layers: List[DlibLayer]

    def of_kind(self, kind: str) -> List[DlibLayer]:
        return [r for r in self.layers if r.kind == kind]


class _Reader:
    """A cursor over the file's bytes with dlib's primitive decoders."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> WeightsError:
        return WeightsError(f"{self.name}: not a dlib DNN file this reader understands ({what} at byte {self.pos})")

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("unexpected end of file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def peek(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("unexpected end of file")
        return self.data[self.pos]

    def int_(self) -> int:
        ctrl = self.byte()
        n = ctrl & 0x0F
        if n > 8 or ctrl & 0x70:
            raise self.fail(f"bad integer control byte 0x{ctrl:02x}")
        raw = self.data[self.pos:self.pos + n]
        if len(raw) != n:
            raise self.fail("unexpected end of file")
        self.pos += n
        v = int.from_bytes(raw, "little")
        return -v if ctrl & 0x80 else v

    def float_(self) -> float:
        if self.peek() & 0x70:  # dlib's old ASCII float format: never written by dlib >= 18.x
            raise self.fail("ASCII-format float")
        m = self.int_()
        e = self.int_()
        return float(np.ldexp(float(m), e))

    def string(self) -> str:
        n = self.int_()
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail("bad string length")
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        try:
            return s.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail("non-ASCII string") from None

    def peek_string(self) -> Optional[str]:
        """The string at the cursor if one plausibly starts there, without moving."""
        start = self.pos
        try:
            n = self.int_()
            if not 0 < n < 64 or self.pos + n > len(self.data):
                return None
            s = self.data[self.pos:self.pos + n]
            return s.decode("ascii") if all(32 <= c < 127 for c in s) else None
        except WeightsError:
            return None
        finally:
            self.pos = start

    def bool_(self) -> bool:
        c = self.byte()
        if c not in (ord("0"), ord("1")):
            raise self.fail(f"bad bool byte 0x{c:02x}")
        return c == ord("1")

    def tensor(self) -> np.ndarray:
        """A resizable tensor: version 2, n, k, rows, cols, raw little-endian float32."""
        if self.int_() != 2:
            raise self.fail("tensor version is not 2")
        shape = tuple(self.int_() for _ in range(4))
        if any(s < 0 for s in shape):
            raise self.fail("negative tensor size")
        count = int(np.prod(shape))
        end = self.pos + 4 * count
        if end > len(self.data):
            raise self.fail("tensor runs past the end of the file")
        arr = np.frombuffer(self.data, "<f4", count, self.pos).reshape(shape).astype(np.float32)
        self.pos = end
        return arr

    def alias(self) -> Tuple[int, int, int, int]:
        """An alias tensor: version 1 and its shape only (the data lives in ``params``)."""
        if self.int_() != 1:
            raise self.fail("alias tensor version is not 1")
        return tuple(self.int_() for _ in range(4))  # type: ignore[return-value]


def _split(params: np.ndarray, shapes: List[Tuple[int, ...]], r: _Reader) -> List[np.ndarray]:
    """Cut a layer's flat parameter tensor into the alias tensors' shapes, in order."""
    flat = params.reshape(-1)
    out, at = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(flat[at:at + n].reshape(s).copy())
        at += n
    if at != flat.size:
        raise r.fail(f"parameter tensor of {flat.size} values does not split into {shapes}")
    return out


def _details(r: _Reader) -> DlibLayer:
    """One layer's details, dispatched on its type string."""
    v = r.string()
    if v in ("con_4", "con_5", "con_6"):
        params = r.tensor()
        f: Dict[str, Any] = {"num_filters": r.int_(), "kernel": (r.int_(), r.int_()),
                             "stride": (r.int_(), r.int_()), "padding": (r.int_(), r.int_())}
        w_shape, b_shape = r.alias(), r.alias()
        f["multipliers"] = [r.float_() for _ in range(4)]
        f["use_bias"] = r.bool_() if v in ("con_5", "con_6") else True
        if v == "con_6":
            f["use_relu"] = r.bool_()
        shapes = [w_shape] + ([b_shape] if f["use_bias"] and np.prod(b_shape) else [])
        parts = _split(params, shapes, r)
        arrays = {"weight": parts[0]}
        if len(parts) > 1:
            arrays["bias"] = parts[1].reshape(-1)
        return DlibLayer("con", v, f, arrays)
    if v in ("affine_", "affine_2"):
        params = r.tensor()
        g_shape, b_shape = r.alias(), r.alias()
        f = {"mode": r.int_()}
        if v == "affine_2":
            f["disabled"] = r.bool_()
        gamma, beta = _split(params, [g_shape, b_shape], r)
        return DlibLayer("affine", v, f, {"gamma": gamma.reshape(-1), "beta": beta.reshape(-1)})
    if v in ("relu_", "relu_2"):
        f = {"disabled": r.bool_()} if v == "relu_2" else {}
        return DlibLayer("relu", v, f)
    if v in ("max_pool_2", "avg_pool_2"):
        f = {"kernel": (r.int_(), r.int_()), "stride": (r.int_(), r.int_()), "padding": (r.int_(), r.int_())}
        return DlibLayer(v[:-2], v, f)
    if v == "add_prev_":
        return DlibLayer("add_prev", v)
    if v in ("fc_2", "fc_3"):
        f = {"num_outputs": r.int_(), "num_inputs": r.int_()}
        params = r.tensor()
        w_shape, b_shape = r.alias(), r.alias()
        f["bias_mode"] = r.int_()
        f["multipliers"] = [r.float_() for _ in range(4)]
        f["use_bias"] = r.bool_() if v == "fc_3" else True
        w = params.reshape(-1)[: int(np.prod(w_shape))].reshape(f["num_inputs"], -1).copy()
        arrays = {"weight": w}  # dlib stores [in, out]
        rest = params.size - w.size
        if rest:
            arrays["bias"] = params.reshape(-1)[w.size:].copy()
        return DlibLayer("fc", v, f, arrays)
    raise r.fail(f"layer type {v!r} is not supported")


def _layer_tail(r: _Reader, bottom_version: Optional[int] = None) -> None:
    """The three bools and three (empty) tensors that follow every layer's details."""
    for _ in range(3):
        r.bool_()
    for _ in range(3):
        r.tensor()
    if bottom_version is not None and bottom_version >= 3:
        r.int_()  # the bottom layer's sample expansion factor


def read_dlib_dnn(path: PathLike) -> DlibNet:
    """Parse a dlib DNN ``.dat`` file (a metric-loss network on an RGB input, as dlib's face
    recognition ResNet); see the module docstring for the format.

    Raises:
        WeightsError: not a file of that kind, an unsupported layer, or bytes left over.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"dlib model file not found: {p}")
    r = _Reader(p.read_bytes(), p.name)
    if r.int_() != 1:
        raise r.fail("loss layer version is not 1")
    lv = r.string()
    if lv == "loss_metric_2":
        loss = {"type": lv, "margin": r.float_(), "distance_threshold": r.float_()}
    elif lv == "loss_metric_":
        loss = {"type": lv, "margin": 0.1, "distance_threshold": 0.75}
    else:
        raise r.fail(f"loss {lv!r} (only dlib's metric loss is supported)")
    versions: List[int] = []
    while r.peek_string() != "input_rgb_image_sized":
        versions.append(r.int_())
        if len(versions) > 10_000:
            raise r.fail("no input layer found")
    if r.string() != "input_rgb_image_sized":
        raise r.fail("input layer")
    inp = {"mean": (r.float_(), r.float_(), r.float_()), "size": (r.int_(), r.int_())}
    bottom = versions[-1]
    layers = [_details(r)]
    _layer_tail(r, bottom_version=bottom)
    while r.pos < len(r.data):  # the other computational layers, bottom-up, to the last byte
        layers.append(_details(r))
        _layer_tail(r)
    # every computational layer above the bottom one wrote version 2 (tags and skips write 1)
    if len(layers) - 1 != sum(1 for v in versions[:-1] if v == 2):
        raise r.fail(f"{len(layers)} layer records for {sum(1 for v in versions if v == 2)} layer versions")
    return DlibNet(loss, versions, inp, layers)


def is_dlib_dnn(path: PathLike) -> bool:
    """Cheap check: does the file start like a dlib metric-loss network?"""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError:
        return False
    r = _Reader(head, str(path))
    try:
        return r.int_() == 1 and r.string().startswith("loss_metric")
    except WeightsError:
        return False
