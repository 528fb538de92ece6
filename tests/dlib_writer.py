"""Write a network in dlib's DNN serialisation: the format :mod:`lrface.models.dlib_io` reads.

Test helper: with random weights for dlib's face ResNet v1 it makes a ``.dat`` file that dlib
itself (``dlib-bin``) loads, so the reader and the PyTorch port can be checked against dlib
without the published model file. The layout follows dlib's ``serialize`` functions (see the
docstring of :mod:`lrface.models.dlib_io`): the loss, every layer's version top-down, then each
computational layer's details, bools and empty tensors bottom-up.
"""
from __future__ import annotations

import io
import math
from typing import List, Sequence, Tuple

import numpy as np

from lrface.models.dlib_resnet import LEVELS


def _int(v: int) -> bytes:
    neg, mag = v < 0, abs(int(v))
    raw = mag.to_bytes(max(1, (mag.bit_length() + 7) // 8), "little")  # dlib writes 0 as one zero byte
    return bytes([len(raw) | (0x80 if neg else 0)]) + raw


def _float(x: float) -> bytes:
    if x == 0:
        return _int(0) + _int(0)
    m, e = math.frexp(float(x))  # x = m * 2**e, 0.5 <= |m| < 1
    mant, e = int(m * (1 << 53)), e - 53
    while mant % 2 == 0:  # the shortest exact mantissa, as dlib writes it
        mant //= 2
        e += 1
    return _int(mant) + _int(e)


def _str(s: str) -> bytes:
    return _int(len(s)) + s.encode("ascii")


def _bool(b: bool) -> bytes:
    return b"1" if b else b"0"


def _tensor(a: np.ndarray, shape: Sequence[int]) -> bytes:
    return _int(2) + b"".join(_int(int(s)) for s in shape) + np.asarray(a, "<f4").tobytes()


def _alias(shape: Sequence[int]) -> bytes:
    return _int(1) + b"".join(_int(int(s)) for s in shape)


def _tail() -> bytes:
    """this_layer_setup_called (True: else dlib re-initialises the weights at the first forward),
    gradient_input_is_stale, get_output_and_gradient_input_disabled; three empty tensors."""
    empty = _tensor(np.zeros(0, np.float32), (0, 0, 0, 0))
    return _bool(True) + _bool(True) + _bool(False) + empty * 3


def _con(w: np.ndarray, b: np.ndarray, stride: int) -> bytes:
    out, cin, k, _ = w.shape
    pad = k // 2 if stride == 1 else 0
    params = np.concatenate([w.reshape(-1), b])
    return (_str("con_4") + _tensor(params, (params.size, 1, 1, 1)) + _int(out) + _int(k) + _int(k)
            + _int(stride) + _int(stride) + _int(pad) + _int(pad) + _alias(w.shape) + _alias((1, out, 1, 1))
            + b"".join(_float(x) for x in (1.0, 1.0, 1.0, 0.0)))


def _affine(g: np.ndarray, b: np.ndarray) -> bytes:
    c = g.size
    return _str("affine_") + _tensor(np.concatenate([g, b]), (2 * c, 1, 1, 1)) + _alias((1, c, 1, 1)) \
        + _alias((1, c, 1, 1)) + _int(0)


def _pool(kind: str, k: int, s: int) -> bytes:
    return _str(f"{kind}_2") + _int(k) + _int(k) + _int(s) + _int(s) + _int(0) + _int(0)


def random_resnet_dat(seed: int = 0) -> Tuple[bytes, List[np.ndarray]]:
    """A dlib face ResNet v1 file with random weights, and its conv weights in order (for checks)."""
    rng = np.random.default_rng(seed)
    layers: List[bytes] = []  # bottom-up
    convs: List[np.ndarray] = []

    def conv(cin: int, cout: int, k: int, stride: int) -> None:
        w = (rng.standard_normal((cout, cin, k, k)) * math.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.01).astype(np.float32)
        convs.append(w)
        layers.append(_con(w, b, stride))

    def affine(c: int) -> None:
        layers.append(_affine((1 + 0.1 * rng.standard_normal(c)).astype(np.float32),
                              (0.05 * rng.standard_normal(c)).astype(np.float32)))

    def simple(data: bytes) -> None:
        layers.append(data)

    conv(3, 32, 7, 2)
    affine(32)
    simple(_str("relu_"))
    simple(_pool("max_pool", 3, 2))
    cin = 32
    for cout, n, down in LEVELS:
        for i in range(n):
            s = 2 if down and i == 0 else 1
            conv(cin if i == 0 else cout, cout, 3, s)
            affine(cout)
            simple(_str("relu_"))
            conv(cout, cout, 3, 1)
            affine(cout)
            if s == 2:
                simple(_pool("avg_pool", 2, 2))
            simple(_str("add_prev_"))
            simple(_str("relu_"))
        cin = cout
    simple(_pool("avg_pool", 0, 1))
    fc = (rng.standard_normal((256, 128)) / 16).astype(np.float32)
    layers.append(_str("fc_2") + _int(128) + _int(256) + _tensor(fc, (256, 128, 1, 1)) + _alias((256, 128, 1, 1))
                  + _alias((0, 0, 0, 0)) + _int(1) + b"".join(_float(x) for x in (1.0, 1.0, 1.0, 0.0)))
    # dlib reads the versions as it descends the network's type, so they follow the type
    top_down = _versions_from_type()
    buf = io.BytesIO()
    buf.write(_int(1) + _str("loss_metric_2") + _float(0.04) + _float(0.6))
    buf.write(b"".join(_int(v) for v in top_down[:-1]))
    # the bottom layer: version, input layer, its details, tail, sample expansion factor
    buf.write(_int(3) + _str("input_rgb_image_sized") + _float(122.782) + _float(117.001) + _float(104.298)
              + _int(150) + _int(150))
    buf.write(layers[0] + _tail() + _int(1))
    for data in layers[1:]:
        buf.write(data + _tail())
    return buf.getvalue(), convs


def _versions_from_type() -> List[int]:
    """The version of every layer from the loss down, as dlib's nested types define them:
    add_layer 2 (3 at the bottom), add_tag_layer 1, add_skip_layer 1."""
    down: List[int] = [2, 2]  # fc_no_bias, avg_pool_everything
    for cout, n, is_down in reversed(LEVELS):
        for i in reversed(range(n)):
            if is_down and i == 0:  # relu<add_prev2<avg_pool<skip1<tag2<block<tag1<...>>>>>>>
                down += [2, 2, 2, 1, 1]  # relu, add_prev2, avg_pool, skip1, tag2
            else:  # relu<add_prev1<block<tag1<...>>>>
                down += [2, 2]  # relu, add_prev1
            down += [2, 2, 2, 2, 2, 1]  # block: affine, con, relu, affine, con; then tag1
    down += [2, 2, 2, 3]  # max_pool, relu, affine, con (the bottom layer)
    return down
