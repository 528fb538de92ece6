"""Weight import: MXNet params/symbol reading, the numpy graph executor, torch checkpoints.

Everything here is synthetic (no real data needed); real-teacher tests live in test_teachers.py.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lrface.errors import WeightsError
from lrface.models import create_model
from lrface.models.convert import (
    convert,
    convert_arcface_torch,
    convert_legacy_checkpoint,
    detect_source_kind,
    extract_state_dict,
    infer_arch,
    read_mxnet_params,
    read_mxnet_symbol,
    resolve_mxnet_files,
    run_mxnet_graph,
)

_FLAGS = {np.dtype("float32"): 0, np.dtype("float64"): 1, np.dtype("float16"): 2, np.dtype("uint8"): 3,
          np.dtype("int32"): 4, np.dtype("int8"): 5, np.dtype("int64"): 6}


def write_params(path: Path, arrays: Dict[str, np.ndarray], legacy: bool = False) -> Path:
    """Inverse of read_mxnet_params: MXNet NDArray-list bytes (v2 records, or pre-v1 legacy)."""
    out = struct.pack("<QQQ", 0x112, 0, len(arrays))
    for arr in arrays.values():
        arr = np.ascontiguousarray(arr)
        if legacy:  # first word is ndim, dims are u32
            out += struct.pack(f"<I{arr.ndim}I", arr.ndim, *arr.shape)
        else:
            out += struct.pack("<Iii", 0xF993FAC9, 0, arr.ndim) + struct.pack(f"<{arr.ndim}q", *arr.shape)
        out += struct.pack("<iii", 1, 0, _FLAGS[arr.dtype]) + arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    out += struct.pack("<Q", len(arrays))
    for name in arrays:
        raw = name.encode()
        out += struct.pack("<Q", len(raw)) + raw
    path.write_bytes(out)
    return path


def _arrays(seed: int = 0) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "arg:conv_weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "arg:fc_bias": rng.standard_normal(5).astype(np.float64),
        "aux:bn_moving_var": rng.random(4).astype(np.float16),
        "arg:idx": np.arange(6, dtype=np.int64).reshape(2, 3),
        "arg:u8": np.arange(7, dtype=np.uint8),
    }


@pytest.mark.parametrize("legacy", [False, True])
def test_params_roundtrip(tmp_path: Path, legacy: bool) -> None:
    arrays = _arrays()
    got = read_mxnet_params(write_params(tmp_path / "m-0000.params", arrays, legacy=legacy))
    assert list(got) == [k[4:] for k in arrays]
    for k, v in arrays.items():
        assert got[k[4:]].dtype == v.dtype and np.array_equal(got[k[4:]], v)
    assert set(read_mxnet_params(tmp_path / "m-0000.params", keep_prefix=True)) == set(arrays)


def _corruptions(good: bytes) -> Dict[str, bytes]:
    first = 24 + 4  # list header + NDArray magic
    return {
        "truncated": good[:-7],
        "truncated_data": good[:200],
        "bad_list_magic": struct.pack("<Q", 0x113) + good[8:],
        "trailing": good + b"\0\0",
        "bad_dtype": good[: first + 4 + 4 + 32 + 8] + struct.pack("<i", 99) + good[first + 4 + 4 + 32 + 12 :],
        "huge_count": good[:16] + struct.pack("<Q", 1 << 40) + good[24:],
        "empty": b"",
        "not_params": b"hello, I am a text file" * 3,
    }


@pytest.mark.parametrize("kind", list(_corruptions(b"x" * 300)))
def test_corrupt_params_raise_weights_error(tmp_path: Path, kind: str) -> None:
    good = write_params(tmp_path / "good.params", _arrays()).read_bytes()
    bad = tmp_path / "bad.params"
    bad.write_bytes(_corruptions(good)[kind])
    with pytest.raises(WeightsError, match="corrupt MXNet params"):
        read_mxnet_params(bad)


def test_params_name_count_mismatch_and_missing(tmp_path: Path) -> None:
    good = write_params(tmp_path / "good.params", {"arg:a": np.zeros(2, np.float32)}).read_bytes()
    names_at = good.index(struct.pack("<Q", 1) + struct.pack("<Q", 5) + b"arg:a")
    bad = tmp_path / "bad.params"
    bad.write_bytes(good[:names_at] + struct.pack("<Q", 2) + good[names_at + 8 :])
    with pytest.raises(WeightsError, match="names"):
        read_mxnet_params(bad)
    with pytest.raises(WeightsError, match="not found"):
        read_mxnet_params(tmp_path / "nope.params")


# -------------------------------------------------------------------------------------------
# tiny synthetic graph: every supported operator, checked against torch.nn.functional
# -------------------------------------------------------------------------------------------


def _tiny_graph() -> List[dict]:
    def null(name: str, **attrs: str) -> dict:
        return {"op": "null", "name": name, "attrs": attrs, "inputs": []}

    nodes = [null("data")]

    def add(op: str, name: str, inputs: List[int], **attrs: str) -> int:
        nodes.append({"op": op, "name": name, "attrs": attrs, "inputs": [[i, 0, 0] for i in inputs]})
        return len(nodes) - 1

    x = add("_minus_scalar", "sub", [0], scalar="127.5")
    x = add("_mul_scalar", "mul", [x], scalar="0.0078125")
    w = len(nodes); nodes.append(null("c1_weight"))
    c1 = add("Convolution", "c1", [x, w], kernel="(3, 3)", stride="(2, 2)", pad="(1, 1)", num_filter="4",
             num_group="1", no_bias="True")
    bn = [c1] + [len(nodes) + i for i in range(4)]
    nodes += [null(f"bn1_{s}") for s in ("gamma", "beta", "moving_mean", "moving_var")]
    b1 = add("BatchNorm", "bn1", bn, fix_gamma="False", eps="0.001")
    g = len(nodes); nodes.append(null("r1_gamma"))
    r1 = add("LeakyReLU", "r1", [b1, g], act_type="prelu")
    w2, b2w = len(nodes), len(nodes) + 1
    nodes += [null("dw_weight"), null("dw_bias")]
    dw = add("Convolution", "dw", [r1, w2, b2w], kernel="(3, 3)", stride="(1, 1)", pad="(1, 1)", num_filter="4",
             num_group="4", no_bias="False")
    w3 = len(nodes); nodes.append(null("gc_weight"))
    gc = add("Convolution", "gc", [dw, w3], kernel="(1, 1)", num_filter="4", num_group="2", no_bias="True")
    s = add("elemwise_add", "plus", [gc, r1])
    fw, fb = len(nodes), len(nodes) + 1
    nodes += [null("fc_weight"), null("fc_bias")]
    fc = add("FullyConnected", "fc", [s, fw, fb], num_hidden="3")
    bn2 = [fc] + [len(nodes) + i for i in range(4)]
    nodes += [null(f"bn2_{s_}") for s_ in ("gamma", "beta", "moving_mean", "moving_var")]
    add("BatchNorm", "bn2", bn2, fix_gamma="True", eps="2e-05")
    return nodes


def _tiny_params(rng: np.random.Generator) -> Dict[str, np.ndarray]:
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return {
        "c1_weight": r(4, 3, 3, 3), "bn1_gamma": r(4), "bn1_beta": r(4), "bn1_moving_mean": r(4),
        "bn1_moving_var": rng.random(4).astype(np.float32) + 0.5, "r1_gamma": r(4), "dw_weight": r(4, 1, 3, 3),
        "dw_bias": r(4), "gc_weight": r(4, 2, 1, 1), "fc_weight": r(3, 4 * 4 * 5), "fc_bias": r(3),
        "bn2_gamma": r(3) + 5.0, "bn2_beta": r(3), "bn2_moving_mean": r(3),
        "bn2_moving_var": rng.random(3).astype(np.float32) + 0.5,
    }


def _torch_reference(p: Dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    t = {k: torch.from_numpy(v).double() for k, v in p.items()}
    y = (torch.from_numpy(x).double() - 127.5) * 0.0078125
    y = F.conv2d(y, t["c1_weight"], stride=2, padding=1)
    y = F.batch_norm(y, t["bn1_moving_mean"], t["bn1_moving_var"], t["bn1_gamma"], t["bn1_beta"], eps=1e-3)
    r = F.prelu(y, t["r1_gamma"])
    y = F.conv2d(r, t["dw_weight"], t["dw_bias"], padding=1, groups=4)
    y = F.conv2d(y, t["gc_weight"], groups=2) + r
    y = F.linear(y.flatten(1), t["fc_weight"], t["fc_bias"])
    # fix_gamma=True: the stored gamma (around 5) must be ignored
    y = F.batch_norm(y, t["bn2_moving_mean"], t["bn2_moving_var"], None, t["bn2_beta"], eps=2e-5)
    return y.numpy()


def test_graph_executor_matches_torch_functional(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    nodes, params = _tiny_graph(), _tiny_params(rng)
    x = rng.integers(0, 256, (3, 3, 8, 10)).astype(np.uint8)
    got = run_mxnet_graph(nodes, params, x)
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got, _torch_reference(params, x), rtol=1e-9, atol=1e-9)
    # the intermediate output can be requested by name
    assert run_mxnet_graph(nodes, params, x, output="c1").shape == (3, 4, 4, 5)
    # and the same graph survives a json round trip through read_mxnet_symbol
    sym = tmp_path / "tiny-symbol.json"
    sym.write_text(json.dumps({"nodes": nodes, "heads": [[len(nodes) - 1, 0, 0]]}))
    np.testing.assert_array_equal(run_mxnet_graph(read_mxnet_symbol(sym), params, x), got)


def test_graph_executor_errors() -> None:
    rng = np.random.default_rng(2)
    nodes, params = _tiny_graph(), _tiny_params(rng)
    x = np.zeros((1, 3, 8, 10), np.uint8)
    with pytest.raises(WeightsError, match="missing"):
        run_mxnet_graph(nodes, {k: v for k, v in params.items() if k != "fc_bias"}, x)
    bad = [dict(n) for n in nodes]
    bad[5] = dict(bad[5], op="Pooling")
    with pytest.raises(WeightsError, match="unsupported MXNet operator 'Pooling'"):
        run_mxnet_graph(bad, params, x)


def test_symbol_reader_errors(tmp_path: Path) -> None:
    p = tmp_path / "x-symbol.json"
    p.write_text("{not json")
    with pytest.raises(WeightsError):
        read_mxnet_symbol(p)
    p.write_text(json.dumps({"nodes": [{"op": "null", "name": "a", "inputs": [[3, 0, 0]]}]}))
    with pytest.raises(WeightsError, match="earlier node"):
        read_mxnet_symbol(p)
    with pytest.raises(WeightsError, match="not found"):
        read_mxnet_symbol(tmp_path / "missing-symbol.json")


def test_resolve_mxnet_files(tmp_path: Path) -> None:
    (tmp_path / "model-symbol.json").write_text("{}")
    for epoch in (0, 12):
        (tmp_path / f"model-{epoch:04d}.params").write_bytes(b"")
    sym, par = resolve_mxnet_files(tmp_path)
    assert sym.name == "model-symbol.json" and par.name == "model-0012.params"
    assert resolve_mxnet_files(tmp_path / "model")[1].name == "model-0012.params"
    assert resolve_mxnet_files(tmp_path / "model-0000.params")[1].name == "model-0000.params"
    assert detect_source_kind(tmp_path / "model") == "mxnet"
    with pytest.raises(WeightsError):
        resolve_mxnet_files(tmp_path / "other")


# -------------------------------------------------------------------------------------------
# torch checkpoints
# -------------------------------------------------------------------------------------------


class _Evil:
    """Pickling this object makes unpickling call print: stands for arbitrary code."""

    def __reduce__(self):  # noqa: D105
        return (print, ("pwned",))


def test_arcface_torch_roundtrip_with_module_prefix(tmp_path: Path) -> None:
    model = create_model("iresnet18")
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "backbone.pth"
    torch.save(sd, path)
    assert detect_source_kind(path) == "torch"
    out = convert_arcface_torch(path)  # arch inferred from the keys
    assert set(out) == set(model.state_dict())
    assert torch.equal(out["fc.weight"], model.state_dict()["fc.weight"])
    conv = convert(path)
    assert conv.arch == "iresnet18" and conv.kind == "torch" and conv.cfg.embedding_size == 512
    with pytest.raises(WeightsError, match="does not fit"):
        convert_arcface_torch(path, arch="iresnet34")


def test_legacy_checkpoint_needs_trust(tmp_path: Path) -> None:
    model = create_model("mobilefacenet_casia")
    path = tmp_path / "068.ckpt"
    # legacy (pre-zip) torch format like 068.ckpt, holding an object the safe loader must reject
    torch.save({"epoch": 1, "net_state_dict": model.state_dict(), "hook": _Evil()}, path,
               _use_new_zipfile_serialization=False)
    assert detect_source_kind(path) == "legacy"
    with pytest.raises(WeightsError, match="arbitrary code"):
        convert_legacy_checkpoint(path, "mobilefacenet_casia")
    with pytest.raises(WeightsError, match="arbitrary code"):
        convert(path)
    out = convert_legacy_checkpoint(path, "mobilefacenet_casia", trust=True)
    assert set(out) == set(model.state_dict())
    assert convert(path, trust=True).arch == "mobilefacenet_casia"


def test_extract_state_dict_variants() -> None:
    sd = {"a.weight": torch.ones(2, dtype=torch.float16), "b": torch.zeros(1, dtype=torch.long)}
    prefixed = {f"module.{k}": v for k, v in sd.items()}
    for wrapped in (sd, {"state_dict": sd}, {"model": {"net_state_dict": sd}}, prefixed):
        out = extract_state_dict(wrapped)
        assert set(out) == set(sd) and out["a.weight"].dtype == torch.float32 and out["b"].dtype == torch.long
    lin = torch.nn.Linear(2, 3)
    assert set(extract_state_dict({"model": lin})) == {"weight", "bias"}
    with pytest.raises(WeightsError, match="no state dict"):
        extract_state_dict({"epoch": 3, "optimizer": {}})


def test_infer_arch_all_registered_teachers() -> None:
    for name in ("iresnet18", "iresnet34", "mobilefacenet_y1", "mobilefacenet_casia"):
        assert infer_arch(create_model(name).state_dict()) == name
    assert infer_arch({"x": torch.zeros(1)}) is None


def test_detect_rejects_unknown_files(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("not weights")
    with pytest.raises(WeightsError, match="not an MXNet model"):
        detect_source_kind(p)
    with pytest.raises(WeightsError, match="not found"):
        detect_source_kind(tmp_path / "missing.pth")
