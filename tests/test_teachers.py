"""HR teachers: IResNet key layout, MobileFaceNet y1 vs the raw MXNet graph, the CASIA checkpoint.

Real-teacher tests skip when ``../shared/data`` (or ``$LRFACE_DATA``) is absent.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
import pytest
import torch

from lrface.errors import WeightsError
from lrface.models import create_model, list_models, preprocess
from lrface.models.convert import (
    convert,
    convert_legacy_checkpoint,
    convert_mxnet,
    read_mxnet_params,
    read_mxnet_symbol,
    run_mxnet_graph,
)

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_DEPTHS = {"iresnet18": [2, 2, 2, 2], "iresnet34": [3, 4, 6, 3], "iresnet50": [3, 4, 14, 3],
           "iresnet100": [3, 13, 30, 3]}


def _expected_iresnet_keys(layers: List[int]) -> List[str]:
    """arcface_torch ``backbones/iresnet.py`` state-dict keys, written out independently."""
    keys = ["conv1.weight"] + [f"bn1.{s}" for s in _BN] + ["prelu.weight"]
    for i, n in enumerate(layers, start=1):
        for j in range(n):
            b = f"layer{i}.{j}"
            keys += [f"{b}.bn1.{s}" for s in _BN] + [f"{b}.conv1.weight"] + [f"{b}.bn2.{s}" for s in _BN]
            keys += [f"{b}.prelu.weight", f"{b}.conv2.weight"] + [f"{b}.bn3.{s}" for s in _BN]
            if j == 0:
                keys += [f"{b}.downsample.0.weight"] + [f"{b}.downsample.1.{s}" for s in _BN]
    keys += [f"bn2.{s}" for s in _BN] + ["fc.weight", "fc.bias"] + [f"features.{s}" for s in _BN]
    return keys


def test_teachers_registered() -> None:
    assert set(_DEPTHS) | {"mobilefacenet_y1", "mobilefacenet_casia"} <= set(list_models())


@pytest.mark.parametrize("name", list(_DEPTHS))
def test_iresnet_state_dict_matches_arcface_torch(name: str) -> None:
    sd = create_model(name).state_dict()
    assert list(sd) == _expected_iresnet_keys(_DEPTHS[name])
    shapes: Dict[str, Tuple[int, ...]] = {
        "conv1.weight": (64, 3, 3, 3), "layer1.0.bn1.weight": (64,), "layer1.0.conv1.weight": (64, 64, 3, 3),
        "layer1.0.downsample.0.weight": (64, 64, 1, 1), "layer2.0.conv1.weight": (128, 64, 3, 3),
        "layer4.0.conv2.weight": (512, 512, 3, 3), "layer4.0.downsample.1.running_var": (512,),
        "bn2.weight": (512,), "fc.weight": (512, 25088), "fc.bias": (512,), "features.weight": (512,),
        "features.running_mean": (512,),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key


def test_iresnet18_forward_and_taps() -> None:
    torch.manual_seed(0)
    model = create_model("iresnet18").eval()
    assert model.cfg.input_size == (112, 112) and model.cfg.embedding_size == 512 and model.cfg.role == "teacher"
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        feats = model.forward_features(x)
        out = model(x)
    assert out.shape == (2, 512) and torch.isfinite(out).all()
    assert torch.equal(out, feats["embedding"])
    assert feats["stage4"].shape == (2, 512, 7, 7) and feats["stem"].shape == (2, 64, 112, 112)
    assert feats["pre_embedding"] is feats["stage4"]
    assert not model.features.weight.requires_grad  # ArcFace fixes the embedding BN scale
    with pytest.raises(ValueError, match="112x112"):
        model(torch.zeros(1, 3, 96, 96))


@pytest.mark.parametrize("name,size", [("mobilefacenet_y1", (112, 112)), ("mobilefacenet_casia", (112, 96))])
def test_mobilefacenet_forward_backward(name: str, size: Tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = create_model(name)
    assert model.cfg.input_size == size and model.embedding_size == 128
    out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, 128)
    out.square().sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


# -------------------------------------------------------------------------------------------
# real teachers
# -------------------------------------------------------------------------------------------


def _lfw_batch(lfw_dir: Path, n: int = 8) -> np.ndarray:
    """``n`` aligned LFW faces as uint8 RGB NHWC (first image of the first ``n`` identities)."""
    people = sorted(p for p in (lfw_dir / "images").iterdir() if p.is_dir())[:n]
    imgs = [cv2.imread(str(sorted(p.glob("*.jpg"))[0]))[:, :, ::-1] for p in people]
    return np.stack(imgs)


@pytest.fixture(scope="module")
def y1(teachers_dir: Path):
    folder = teachers_dir / "mobilefacenet_y1"
    state, cfg = convert_mxnet(folder)
    model = create_model("mobilefacenet_y1")
    model.load_state_dict(state, strict=True)
    model.cfg = cfg
    nodes = read_mxnet_symbol(folder / "model-symbol.json")
    params = read_mxnet_params(folder / "model-0000.params")
    return model.eval(), nodes, params


def test_real_params_file(teachers_dir: Path) -> None:
    params = read_mxnet_params(teachers_dir / "mobilefacenet_y1" / "model-0000.params")
    assert len(params) == 284
    assert params["conv_1_conv2d_weight"].shape == (64, 3, 3, 3)
    assert params["fc1_weight"].shape == (128, 512)
    assert params["fc1_moving_var"].shape == (128,)
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in params.values())


def test_truncated_real_params_file(teachers_dir: Path, tmp_path: Path) -> None:
    data = (teachers_dir / "mobilefacenet_y1" / "model-0000.params").read_bytes()
    bad = tmp_path / "model-0000.params"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated"):
        read_mxnet_params(bad)


def test_y1_cfg_from_graph(y1) -> None:
    model, _, _ = y1
    assert model.cfg.mean == (127.5,) * 3 and model.cfg.std == (128.0,) * 3
    assert model.cfg.channel_order == "RGB" and model.cfg.input_size == (112, 112)


def _max_diff(model, nodes, params, images_nchw_uint8: np.ndarray) -> float:
    ref = run_mxnet_graph(nodes, params, images_nchw_uint8)  # the graph scales its own input
    with torch.no_grad():
        ours = model(preprocess(torch.from_numpy(images_nchw_uint8), model.cfg)).double().numpy()
    assert ref.shape == ours.shape == (len(images_nchw_uint8), 128)
    return float(np.abs(ours - ref).max())


def test_y1_matches_raw_graph_on_lfw(y1, lfw_dir: Path) -> None:
    model, nodes, params = y1
    x = _lfw_batch(lfw_dir).transpose(0, 3, 1, 2).copy()
    assert _max_diff(model, nodes, params, x) < 1e-4


def test_y1_matches_raw_graph_on_random_input(y1) -> None:
    model, nodes, params = y1
    x = np.random.default_rng(0).integers(0, 256, (4, 3, 112, 112)).astype(np.uint8)
    assert _max_diff(model, nodes, params, x) < 1e-4


def test_casia_trusted_legacy_path(teachers_dir: Path, lfw_dir: Path) -> None:
    ckpt = teachers_dir / "mobilefacenet_casia" / "068.ckpt"
    with pytest.raises(WeightsError, match="arbitrary code"):
        convert_legacy_checkpoint(ckpt, "mobilefacenet_casia")
    state = convert_legacy_checkpoint(ckpt, "mobilefacenet_casia", trust=True)
    model = create_model("mobilefacenet_casia")
    model.load_state_dict(state, strict=True)
    model.eval()
    faces = _lfw_batch(lfw_dir, 4)[:, :, 8:104]  # 112x96 = the aligned 112 crop without 8 px each side
    with torch.no_grad():
        emb = model(preprocess(faces, model.cfg))
    assert emb.shape == (4, 128) and torch.isfinite(emb).all()
    # auto-detection finds the same weights (this torch loads 068.ckpt with weights_only=True)
    conv = convert(ckpt)
    assert conv.arch == "mobilefacenet_casia" and conv.cfg.input_size == (112, 96)
    assert all(torch.equal(conv.state_dict[k], state[k]) for k in state)
