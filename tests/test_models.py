"""Model tests generated from the registry: every registered model gets the same checks.

Teachers added later to ``lrface.models`` are covered automatically. The checks of the big
IResNets (50/100) are marked ``slow``: the full suite (CI) runs them, and the documented fast
mode (``pytest --fast`` or ``LRFACE_FAST=1``, see ``tests/conftest.py``) deselects them.
"""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from lrface.models import create_model, list_models
from lrface.models.base import FaceModel
from lrface.models.export import fold_bn, onnx_available, to_channels_last

ALL = list_models()
SLOW = {"iresnet50", "iresnet100"}
COMPACT = [n for n in ALL if n.startswith("lrstudent") or n == "assistant"]


def _params(names, slow=SLOW):
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


def _model(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model(name)


def _input(model: nn.Module, n: int = 2, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, *model.input_size, generator=g)


def _randomize_bn(model: nn.Module, seed: int = 2) -> nn.Module:
    """Non-trivial BN statistics, so BN-related bugs cannot hide behind mean 0 / var 1.

    Scales stay below 1 so random-init deep nets do not blow up in float32.
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            if m.weight is not None and m.weight.requires_grad:
                with torch.no_grad():
                    m.weight.copy_(torch.rand(c, generator=g) * 0.3 + 0.2)
                    m.bias.copy_(torch.rand(c, generator=g) * 0.2 - 0.1)
    return model


def test_registry_has_students_and_assistant():
    for r in (8, 12, 16, 20, 24, 32):
        assert f"lrstudent{r}" in ALL
    assert "assistant" in ALL


@pytest.mark.parametrize("name", ALL)
def test_forward_shape_and_cfg(name):
    m = _model(name).eval()
    with torch.no_grad():
        out = m(_input(m))
    assert out.shape == (2, m.embedding_size)
    assert m.cfg.role in {"teacher", "assistant", "student"}
    assert len(m.input_size) == 2 and m.default_cfg["embedding_size"] == m.embedding_size


@pytest.mark.parametrize("name", _params(ALL))
def test_embed_unit_norm_and_finite(name):
    m = _randomize_bn(_model(name)).eval()  # default BN stats blow up deep random nets
    e = m.embed(_input(m))
    assert torch.isfinite(e).all()
    torch.testing.assert_close(e.norm(dim=1), torch.ones(2), atol=1e-5, rtol=0)
    feats = m.forward_features(_input(m))
    assert "embedding" in feats and all(torch.isfinite(v).all() for v in feats.values())


@pytest.mark.parametrize("name", _params(ALL))
def test_gradients_reach_every_trainable_parameter(name):
    m = _model(name).train()
    out = m(_input(m))
    # A fixed random projection rather than a plain sum: with a final train-mode BatchNorm1d,
    # sum(out) = N * beta exactly, which would send (numerically) zero gradient upstream.
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
    (out * w).sum().backward()
    missing = [n for n, p in m.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    assert sum(float(p.grad.abs().sum()) for p in m.parameters() if p.grad is not None) > 0


@pytest.mark.parametrize("name", _params(ALL))
def test_eval_is_deterministic(name):
    m = _randomize_bn(_model(name)).eval()
    x = _input(m)
    with torch.no_grad():
        assert torch.equal(m(x), m(x))


@pytest.mark.parametrize("name", _params(ALL))
def test_state_dict_round_trip(name, tmp_path):
    m = _randomize_bn(_model(name, seed=0)).eval()
    path = tmp_path / "w.pt"
    torch.save(m.state_dict(), path)
    fresh = _model(name, seed=123)
    fresh.load_state_dict(torch.load(path, weights_only=True))
    fresh.eval()
    x = _input(m)
    with torch.no_grad():
        assert torch.equal(m(x), fresh(x))


# ---------------------------------------------------------------------------- taps
_TAP_NAME = re.compile(r"^(stem|stage[1-9]\d*|pre_embedding|embedding)$")


@pytest.mark.parametrize("name", _params(ALL))
def test_feature_info_matches_forward_features(name):
    """Declared tap metadata (no forward needed) equals the tensors forward_features returns."""
    m = _randomize_bn(_model(name)).eval()
    info = m.feature_info
    hooked = {}
    handles = [
        m.get_submodule(t.module).register_forward_hook(lambda _m, _i, out, n=t.name: hooked.setdefault(n, out))
        for t in info
    ]
    try:
        with torch.no_grad():
            feats = m.forward_features(_input(m))
    finally:
        for h in handles:
            h.remove()
    assert list(feats) == list(info.names)
    h, w = m.input_size
    for t in info:
        x = feats[t.name]
        assert tuple(x.shape) == (2, *t.shape), t
        if t.is_map:
            if type(m).map_size is FaceModel.map_size:  # 'same' padding: ceil(input / reduction)
                assert t.size == (-(-h // t.reduction), -(-w // t.reduction)), t
        else:
            assert t.name == "embedding" and t.num_chs == m.embedding_size and t.reduction is None
        # `module` names the submodule producing the tap (for forward hooks)
        assert torch.equal(hooked[t.name].reshape(x.shape), x), t
    assert info["embedding"] is not None and info[0].name == "stem"


@pytest.mark.parametrize("name", ALL)
def test_all_models_share_the_tap_vocabulary(name):
    from lrface.models import CORE_TAPS

    info = create_model(name).feature_info
    names = list(info.names)
    assert all(_TAP_NAME.match(n) for n in names), names
    assert set(CORE_TAPS) <= set(names)
    stages = [n for n in names if n.startswith("stage")]
    assert stages == [f"stage{k}" for k in range(1, len(stages) + 1)]
    assert names == ["stem", *stages, "pre_embedding", "embedding"]
    # each stage starts with a stride-2 step: the reduction doubles from the stem on
    reds = [info[n].reduction for n in ["stem", *stages]]
    assert all(b == 2 * a for a, b in zip(reds, reds[1:])), reds
    assert info["pre_embedding"].reduction == reds[-1]


def test_feature_info_is_static_and_frozen():
    m = create_model("lrstudent16")
    t = m.feature_info["stage1"]
    with pytest.raises(Exception):
        t.num_chs = 3  # frozen dataclass
    with pytest.raises(KeyError, match="stage1"):
        m.feature_info["layer9"]
    assert "stage2" in m.feature_info and "stage3" not in m.feature_info
    assert create_model("lrstudent16", embedding_size=64).feature_info["embedding"].num_chs == 64


# ---------------------------------------------------------------------------- students
@pytest.mark.parametrize("name", COMPACT)
def test_compact_models_native_size_and_taps(name):
    m = _model(name).eval()
    size = 112 if name == "assistant" else int(re.sub(r"\D", "", name))
    assert m.input_size == (size, size) and m.embedding_size == 128
    assert m.cfg.role == ("assistant" if name == "assistant" else "student")
    feats = m.forward_features(_input(m))
    stages = sorted(k for k in feats if k.startswith("stage"))
    assert list(feats)[:1] == ["stem"] and stages and {"pre_embedding", "embedding"} <= set(feats)
    last = feats[stages[-1]]
    assert last.shape[-1] in (2, 3), "the last map should be small (2x2..3x3)"
    assert feats["pre_embedding"] is last
    assert m.fc.in_features == m.feature_info["pre_embedding"].numel


@pytest.mark.parametrize("name", COMPACT)
def test_compact_models_reject_wrong_size_and_resize_embedding(name):
    m = _model(name).eval()
    h, w = m.input_size
    with pytest.raises(ValueError, match="expected input"):
        m(torch.zeros(2, 3, h + 4, w + 4))
    m64 = create_model(name, embedding_size=64).eval()
    assert m64(torch.zeros(2, 3, h, w)).shape == (2, 64)


@pytest.mark.parametrize("name", COMPACT)
def test_fold_bn_matches(name):
    m = _randomize_bn(_model(name)).eval()
    folded = fold_bn(m)
    assert not any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in folded.modules())
    assert any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in m.modules()), "original untouched"
    x = _input(m, n=3)
    with torch.no_grad():
        ref = m(x)
        torch.testing.assert_close(folded(x), ref, atol=1e-4, rtol=0)
        fast = to_channels_last(folded)
        torch.testing.assert_close(fast(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-4, rtol=0)
    assert type(folded) is type(m) and folded.cfg == m.cfg


@pytest.mark.parametrize("name", _params(ALL))
def test_fold_bn_keeps_outputs_for_every_model(name):
    m = _randomize_bn(_model(name)).eval()
    x = _input(m)
    with torch.no_grad():
        ref = m(x)
        scale = float(ref.abs().max()) + 1.0
        torch.testing.assert_close(fold_bn(m)(x), ref, atol=1e-4 * scale, rtol=0)


@pytest.mark.skipif(not onnx_available(), reason="onnx/onnxruntime not installed (pip install 'lrface[onnx]')")
@pytest.mark.parametrize("name", _params(ALL, slow=SLOW | {"iresnet34"}))
def test_onnx_matches_torch(name, tmp_path):
    from lrface.models.export import OnnxEmbedder, export_onnx

    m = _randomize_bn(_model(name)).eval()
    path = export_onnx(m, tmp_path / f"{name}.onnx", dynamic_batch=True)
    emb = OnnxEmbedder(path, threads=1)
    x = _input(m, n=3)  # exported at batch 2: checks the dynamic batch axis too
    with torch.no_grad():
        ref = m(x)
    got = torch.from_numpy(emb(x))
    scale = max(1.0, float(ref.abs().max()))
    assert (got - ref).abs().max() < 1e-4 * scale
    torch.testing.assert_close(torch.from_numpy(emb.embed(x)), nn.functional.normalize(ref, dim=1), atol=1e-4, rtol=0)
    assert emb.cfg == m.cfg


def test_students_are_fast_by_construction():
    """Cheap proxy for the speed target: compute per face stays tiny vs the y1 teacher."""
    from lrface.models.profile import profile

    s16 = profile(create_model("lrstudent16"))
    assert s16["macs"] < 5e6
    if "mobilefacenet_y1" in ALL:
        assert profile(create_model("mobilefacenet_y1"))["macs"] > 30 * s16["macs"]
