"""profile() hand counts and the export helpers (fold_bn, channels-last, compile guard, ONNX)."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from lrface.models import create_model, list_models
from lrface.models.export import fold_bn, maybe_compile, onnx_available, to_channels_last
from lrface.models.profile import profile, profile_table


def test_profile_tiny_conv_by_hand():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=True)
    p = profile(conv, (4, 4))
    assert p["macs"] == 4 * 4 * 8 * 3 * 3 * 3  # 3456
    assert p["flops"] == 2 * 3456 + 4 * 4 * 8  # + one bias add per output
    assert p["params"] == 8 * 27 + 8


def test_profile_conv_bn_linear_by_hand_and_restores_mode():
    net = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 5))
    net.train()
    p = profile(net, (2, 2))
    conv, bn, fc = 16 * 3, 16, 5 * 16
    assert p["macs"] == conv + bn + fc and p["flops"] == 2 * (conv + bn + fc) + 5
    assert net.training
    with pytest.raises(ValueError):
        profile(net)  # no input_size and none on the module


@pytest.mark.parametrize("name", [n for n in list_models() if n.startswith("lrstudent") or n == "assistant"])
def test_student_budget(name):
    p = profile(create_model(name))
    assert 0 < p["params"] <= 1_050_000
    assert p["flops"] > 0 and p["flops"] >= 2 * p["macs"]


def test_profile_table_columns():
    df = profile_table(["lrstudent8", "lrstudent16"])
    assert list(df.model) == ["lrstudent8", "lrstudent16"]
    assert {"params", "params_M", "macs_M", "flops_M", "input", "role"} <= set(df.columns)
    assert (df.params > 0).all() and df.input.tolist() == ["8x8", "16x16"]


def test_fold_bn_conv_with_bias_linear_and_untraceable():
    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 6, 3, bias=True), nn.BatchNorm2d(6), nn.ReLU())
            self.fc = nn.Linear(6 * 4 * 4, 5)
            self.bn = nn.BatchNorm1d(5)

        def forward(self, x):
            if x.sum() > 1e9:  # data-dependent branch: fx cannot trace this
                x = x * 0
            return self.bn(self.fc(self.body(x).flatten(1)))

    torch.manual_seed(0)
    for net in (Untraceable(), nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.Flatten(),
                                             nn.Linear(96, 5), nn.BatchNorm1d(5))):
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                nn.init.uniform_(m.weight, 0.5, 1.5)
                nn.init.uniform_(m.bias, -1, 1)
        net.eval()
        x = torch.randn(4, 3, 6, 6)
        with torch.no_grad():
            folded = fold_bn(net)
            torch.testing.assert_close(folded(x), net(x), atol=1e-5, rtol=0)
        kinds = [type(m) for m in folded.modules()]
        # the Sequential pair is always found; the top-level fc->bn only when traceable
        assert nn.BatchNorm2d not in kinds


def test_fold_bn_leaves_shared_or_multi_use_conv_alone():
    class Tap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y  # conv output used twice: folding would change the sum

    net = Tap().eval()
    net.bn.running_mean.fill_(0.5)
    x = torch.randn(2, 3, 4, 4)
    folded = fold_bn(net)
    assert isinstance(folded.bn, nn.BatchNorm2d)
    torch.testing.assert_close(folded(x), net(x))


def test_channels_last_same_output():
    m = create_model("lrstudent12").eval()
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        ref = m(x)
        out = to_channels_last(m)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_maybe_compile_falls_back_with_warning(monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    m = create_model("lrstudent8").eval()
    with pytest.warns(UserWarning, match="torch.compile failed"):
        assert maybe_compile(m) is m


@pytest.mark.slow
def test_maybe_compile_really_compiles_or_warns():
    m = fold_bn(create_model("lrstudent8").eval())
    x = torch.randn(2, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = maybe_compile(m, example=x)
    with torch.no_grad():
        torch.testing.assert_close(c(x), m(x), atol=1e-4, rtol=0)


@pytest.mark.skipif(not onnx_available(), reason="onnx/onnxruntime not installed (pip install 'lrface[onnx]')")
def test_onnx_folded_static_batch(tmp_path):
    from lrface.models.export import OnnxEmbedder, export_onnx

    m = fold_bn(create_model("lrstudent20").eval())
    path = export_onnx(m, tmp_path / "s.onnx", dynamic_batch=False)
    emb = OnnxEmbedder(path)
    x = torch.randn(2, 3, 20, 20)
    with torch.no_grad():
        ref = m(x).numpy()
    assert abs(emb(x) - ref).max() < 1e-4
    assert emb.cfg is not None and emb.cfg.input_size == (20, 20) and emb.cfg.role == "student"
