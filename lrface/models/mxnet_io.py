"""MXNet model files without mxnet: the ``.params`` NDArray-list reader, the symbol reader and a
small numpy reference executor of the graph.

Used by :mod:`lrface.models.convert`. The executor shares no code with our PyTorch modules, so
"the converted model gives the same embeddings as the raw graph" is an independent check.

NDArray-list layout (from MXNet ``src/ndarray/ndarray.cc``, ``NDArray::Save/Load`` and
``MXNDArraySave``), little endian::

    u64 0x112 (list magic), u64 reserved, u64 count, count x NDArray, u64 count, count x (u64 len, name)
    NDArray: u32 magic (0xF993FAC9 v2 / 0xF993FACA v3 / 0xF993FAC8 v1; anything else is a legacy
             ndim), [v2/v3: i32 storage type, 0 = dense], shape (i32 ndim + ndim x i64; legacy:
             ndim x u32), [ndim > 0: i32 dev_type, i32 dev_id, i32 dtype flag, raw data]

Names are ``arg:NAME`` (learned parameters) or ``aux:NAME`` (BatchNorm moving statistics).
"""
from __future__ import annotations

import json
import logging
import re
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lrface.errors import WeightsError

log = logging.getLogger(__name__)

PathLike = Union[str, Path]

_LIST_MAGIC = 0x112
_ND_V1, _ND_V2, _ND_V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
#: MXNet dtype flag -> numpy dtype (mshadow type flags)
_MX_DTYPES = {0: "<f4", 1: "<f8", 2: "<f2", 3: "u1", 4: "<i4", 5: "i1", 6: "<i8", 7: "?"}
_MAX_NDIM = 32

# ----------------------------------------------------------------------------------------------
# MXNet .params reader
# ----------------------------------------------------------------------------------------------


class _Cursor:
    """Bounds-checked little-endian reader over a bytes buffer (errors name file and offset)."""

    def __init__(self, buf: bytes, path: str) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def fail(self, msg: str) -> WeightsError:
        return WeightsError(f"{self.path}: corrupt MXNet params file at byte {self.pos}: {msg}")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise self.fail(f"needs {n} more bytes, only {len(self.buf) - self.pos} left (truncated?)")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> Tuple[int, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def _read_ndarray(cur: _Cursor) -> Optional[np.ndarray]:
    (magic,) = cur.unpack("I")
    if magic in (_ND_V2, _ND_V3):
        (stype,) = cur.unpack("i")
        if stype != 0:  # row_sparse / csr never occur in face models
            raise cur.fail(f"sparse storage type {stype} is not supported")
    if magic in (_ND_V1, _ND_V2, _ND_V3):
        (ndim,) = cur.unpack("i")
        if ndim == -1 and magic == _ND_V3:  # unknown shape: an empty placeholder
            return None
        if not 0 <= ndim <= _MAX_NDIM:
            raise cur.fail(f"implausible ndim {ndim}")
        shape = cur.unpack(f"{ndim}q")
    else:  # pre-v1 files: the first word is ndim and dims are u32
        ndim = magic
        if ndim > _MAX_NDIM:
            raise cur.fail(f"bad NDArray magic 0x{magic:08X}")
        shape = cur.unpack(f"{ndim}I")
    if ndim == 0:
        return None
    if any(d < 0 for d in shape):
        raise cur.fail(f"negative dimension in shape {shape}")
    cur.unpack("ii")  # context (dev_type, dev_id): irrelevant, we load on CPU
    (flag,) = cur.unpack("i")
    if flag not in _MX_DTYPES:
        raise cur.fail(f"unknown dtype flag {flag}")
    dtype = np.dtype(_MX_DTYPES[flag])
    count = int(np.prod(shape, dtype=np.int64))
    data = cur.take(count * dtype.itemsize)
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def read_mxnet_params(path: PathLike, keep_prefix: bool = False) -> Dict[str, np.ndarray]:
    """Read an MXNet ``.params`` file (NDArray list) without mxnet.

    Args:
        path: the ``.params`` file.
        keep_prefix: keep the ``arg:``/``aux:`` prefixes of the stored names.

    Returns:
        name -> array (dtype as stored, usually float32), in file order.

    Raises:
        WeightsError: missing, truncated or malformed file, or duplicate names.

    Example:
        >>> p = read_mxnet_params("model-0000.params")  # doctest: +SKIP
        >>> p["conv_1_conv2d_weight"].shape  # doctest: +SKIP
        (64, 3, 3, 3)
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"MXNet params file not found: {path}")
    cur = _Cursor(path.read_bytes(), str(path))
    magic, _reserved = cur.unpack("QQ")
    if magic != _LIST_MAGIC:
        raise cur.fail(f"list magic is 0x{magic:X}, expected 0x{_LIST_MAGIC:X}: not an MXNet NDArray file")
    (n,) = cur.unpack("Q")
    if n > len(cur.buf):  # every array takes at least one byte: guards against absurd counts
        raise cur.fail(f"implausible array count {n}")
    arrays = [_read_ndarray(cur) for _ in range(n)]
    (n_names,) = cur.unpack("Q")
    if n_names != n:
        raise cur.fail(f"{n} arrays but {n_names} names")
    out: Dict[str, np.ndarray] = {}
    for arr in arrays:
        (length,) = cur.unpack("Q")
        if length > 4096:
            raise cur.fail(f"implausible name length {length}")
        try:
            name = cur.take(length).decode("utf-8")
        except UnicodeDecodeError:
            raise cur.fail("name is not UTF-8") from None
        if not keep_prefix and name[:4] in ("arg:", "aux:"):
            name = name[4:]
        if name in out:
            raise cur.fail(f"duplicate name {name!r}")
        if arr is None:
            log.warning("%s: %s is an empty array; skipped", path, name)
            continue
        out[name] = arr
    if cur.pos != len(cur.buf):
        raise cur.fail(f"{len(cur.buf) - cur.pos} unexpected trailing bytes")
    return out


# ----------------------------------------------------------------------------------------------
# MXNet graph reader and reference executor
# ----------------------------------------------------------------------------------------------

GRAPH_OPS = ("null", "_minus_scalar", "_mul_scalar", "Convolution", "BatchNorm", "LeakyReLU", "elemwise_add",
             "FullyConnected")


def read_mxnet_symbol(path: PathLike) -> List[Dict[str, Any]]:
    """Read an MXNet ``*-symbol.json`` graph.

    Args:
        path: the json file.

    Returns:
        Nodes in topological order, each ``{"op", "name", "attrs" (str -> str), "inputs"
        ([[node_index, output_index, version], ...])}``; the graph output is the last node.

    Raises:
        WeightsError: unreadable json or a malformed node list.
    """
    path = Path(path)
    try:
        graph = json.loads(path.read_text())
        raw = graph["nodes"]
    except FileNotFoundError:
        raise WeightsError(f"MXNet symbol file not found: {path}") from None
    except (ValueError, KeyError, TypeError) as e:
        raise WeightsError(f"{path}: not an MXNet symbol json ({type(e).__name__}: {e})") from None
    nodes: List[Dict[str, Any]] = []
    for i, node in enumerate(raw):
        try:
            # older MXNet versions store attributes under "param" or "attr"
            attrs = node.get("attrs") or node.get("attr") or node.get("param") or {}
            inputs = [[int(e[0]), int(e[1]) if len(e) > 1 else 0, int(e[2]) if len(e) > 2 else 0]
                      for e in node["inputs"]]
            nodes.append({"op": str(node["op"]), "name": str(node["name"]), "attrs": dict(attrs), "inputs": inputs})
        except (KeyError, TypeError, ValueError) as e:
            raise WeightsError(f"{path}: malformed node {i} ({type(e).__name__}: {e})") from None
        if any(not 0 <= src < i for src, _, _ in inputs):
            raise WeightsError(f"{path}: node {i} ({node['name']}) has an input that is not an earlier node")
    if not nodes:
        raise WeightsError(f"{path}: the graph has no nodes")
    return nodes


def attr_tuple(attrs: Dict[str, str], key: str, default: Tuple[int, ...]) -> Tuple[int, ...]:
    """Parse an MXNet tuple attribute such as ``"(3, 3)"`` (``default`` when absent)."""
    text = attrs.get(key)
    return default if text is None else tuple(int(v) for v in re.findall(r"-?\d+", text))


def attr_flag(attrs: Dict[str, str], key: str, default: bool) -> bool:
    """Parse an MXNet boolean attribute (``"True"``/``"False"``/``"1"``/``"0"``)."""
    text = attrs.get(key)
    return default if text is None else text.strip().lower() in ("true", "1")


def _conv2d_np(x: np.ndarray, w: np.ndarray, stride: Tuple[int, int], pad: Tuple[int, int], groups: int) -> np.ndarray:
    """Grouped 2-D cross-correlation (what MXNet/PyTorch call convolution), NCHW, in numpy."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c != cg * groups or o % groups:
        raise WeightsError(f"convolution weight {w.shape} does not fit input {x.shape} with {groups} groups")
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    ho, wo = (h + 2 * pad[0] - kh) // stride[0] + 1, (wd + 2 * pad[1] - kw) // stride[1] + 1
    span_h, span_w = stride[0] * (ho - 1) + 1, stride[1] * (wo - 1) + 1  # input extent of one kernel tap
    if groups == c and o == c:  # depthwise: a sum of kh*kw shifted, scaled copies is fastest
        out = np.zeros((n, c, ho, wo), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, :, i : i + span_h : stride[0], j : j + span_w : stride[1]]
                out += patch * w[None, :, 0, i, j, None, None]
        return out
    og = o // groups
    outs = []
    for g in range(groups):
        cols = sliding_window_view(xp[:, g * cg : (g + 1) * cg], (kh, kw), axis=(2, 3))
        cols = cols[:, :, :span_h : stride[0], :span_w : stride[1]]
        outs.append(np.tensordot(cols, w[g * og : (g + 1) * og], axes=([1, 4, 5], [1, 2, 3])))  # (n, ho, wo, og)
    return np.concatenate(outs, axis=3).transpose(0, 3, 1, 2)


def run_mxnet_graph(
    nodes: List[Dict[str, Any]],
    params: Dict[str, np.ndarray],
    x: np.ndarray,
    output: Optional[str] = None,
    input_name: str = "data",
) -> np.ndarray:
    """Execute an MXNet inference graph in float64 numpy (reference for converted models).

    Supports exactly ``null``, ``_minus_scalar``, ``_mul_scalar``, ``Convolution`` (groups,
    stride, pad, no_bias), ``BatchNorm`` (moving statistics; MXNet defaults ``eps=1e-3``,
    ``fix_gamma=True``), ``LeakyReLU`` (``act_type=prelu``), ``elemwise_add`` and
    ``FullyConnected`` (``flatten``, ``no_bias``). It shares no code with our modules.

    Args:
        nodes: from :func:`read_mxnet_symbol`.
        params: from :func:`read_mxnet_params` (names without prefixes).
        x: ``(N, C, H, W)`` (or ``(C, H, W)``) input as the graph's data node expects it; for
            insightface graphs raw 0..255 RGB, uint8 or float.
        output: name of the node to return (default: the last node).
        input_name: name of the data node.

    Returns:
        float64 array, the output of ``output``.

    Raises:
        WeightsError: unsupported operator or attribute, missing parameter, shape mismatch.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"run_mxnet_graph expects NCHW input, got shape {x.shape}")
    vals: Dict[int, np.ndarray] = {}
    for i, node in enumerate(nodes):
        op, name, a = node["op"], node["name"], node["attrs"]
        ins = [vals[src] for src, _, _ in node["inputs"]]
        if op == "null":
            if name == input_name:
                vals[i] = x
            elif name in params:
                vals[i] = params[name].astype(np.float64)
            else:
                raise WeightsError(f"graph parameter {name!r} is missing from the params file")
        elif op == "_minus_scalar":
            vals[i] = ins[0] - float(a["scalar"])
        elif op == "_mul_scalar":
            vals[i] = ins[0] * float(a["scalar"])
        elif op == "Convolution":
            if attr_tuple(a, "dilate", (1, 1)) not in ((1, 1), ()):
                raise WeightsError(f"{name}: dilated convolution is not supported")
            y = _conv2d_np(ins[0], ins[1], attr_tuple(a, "stride", (1, 1)), attr_tuple(a, "pad", (0, 0)),
                           int(a.get("num_group", 1)))
            vals[i] = y if attr_flag(a, "no_bias", False) else y + ins[2][None, :, None, None]
        elif op == "BatchNorm":
            if int(a.get("axis", 1)) != 1:
                raise WeightsError(f"{name}: BatchNorm over axis {a['axis']} is not supported")
            data, gamma, beta, mean, var = ins
            if attr_flag(a, "fix_gamma", True):  # MXNet ignores the stored gamma and uses 1
                gamma = np.ones_like(gamma)
            shape = (1, -1) + (1,) * (data.ndim - 2)
            scale = gamma / np.sqrt(var + float(a.get("eps", 1e-3)))
            vals[i] = (data - mean.reshape(shape)) * scale.reshape(shape) + beta.reshape(shape)
        elif op == "LeakyReLU":
            if a.get("act_type", "leaky") != "prelu":
                raise WeightsError(f"{name}: LeakyReLU act_type {a.get('act_type', 'leaky')!r} is not supported")
            slope = ins[1].reshape((1, -1) + (1,) * (ins[0].ndim - 2))
            vals[i] = np.where(ins[0] > 0, ins[0], ins[0] * slope)
        elif op == "elemwise_add":
            vals[i] = ins[0] + ins[1]
        elif op == "FullyConnected":
            data = ins[0].reshape(len(ins[0]), -1) if attr_flag(a, "flatten", True) else ins[0]
            y = data @ ins[1].T
            vals[i] = y if attr_flag(a, "no_bias", False) else y + ins[2]
        else:
            raise WeightsError(f"unsupported MXNet operator {op!r} (node {name!r}); supported: {', '.join(GRAPH_OPS)}")
        if output is not None and name == output:
            return vals[i]
    if output is not None:
        raise WeightsError(f"no node named {output!r} in the graph")
    return vals[len(nodes) - 1]
