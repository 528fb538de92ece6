"""Tap metadata helpers: adapters sized from ``feature_info`` alone, checked on real tensors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from lrface.models import create_model, make_adapter, needs_adapter
from lrface.models.taps import Resample, TapInfo

#: What the students' docstring promises: assistant -> student ``pre_embedding`` adapters.
ADAPTER_TRUTH = {
    8: (False, False),  # (channels differ, spatial size differs)
    12: (False, False),
    16: (False, False),
    20: (False, True),
    24: (False, True),
    32: (True, False),
}


@pytest.fixture(scope="module")
def assistant():
    torch.manual_seed(0)
    return create_model("assistant").eval()


@pytest.mark.parametrize("res", sorted(ADAPTER_TRUTH))
def test_assistant_student_adapter_truth(assistant, res):
    torch.manual_seed(0)
    student = create_model(f"lrstudent{res}").eval()
    a, s = assistant.feature_info["pre_embedding"], student.feature_info["pre_embedding"]
    chans, spatial = ADAPTER_TRUTH[res]
    assert (s.num_chs != a.num_chs, s.size != a.size) == (chans, spatial)
    assert needs_adapter("pre_embedding", assistant, student) == (chans or spatial)
    assert not needs_adapter("embedding", assistant, student)
    assert needs_adapter("stage1", assistant, student)  # early maps never line up across res

    adapter = make_adapter(s, a)
    assert isinstance(adapter, nn.Identity) == (not (chans or spatial))
    assert any(isinstance(m, nn.Conv2d) for m in adapter.modules()) == chans
    assert any(isinstance(m, Resample) for m in adapter.modules()) == spatial
    with torch.no_grad():
        fs = student.forward_features(torch.randn(2, 3, res, res))["pre_embedding"]
        fa = assistant.forward_features(torch.randn(2, 3, 112, 112))["pre_embedding"]
        assert adapter(fs).shape == fa.shape


def test_make_adapter_teacher_to_assistant_and_vectors():
    y1 = create_model("mobilefacenet_y1").feature_info
    r18 = create_model("iresnet18").feature_info
    asst = create_model("assistant").feature_info
    # same stride, different channels (teacher 128 @ 14x14 vs assistant 48 @ 14x14)
    ad = make_adapter(asst["stage2"], y1["stage2"])
    assert ad(torch.zeros(3, *asst["stage2"].shape)).shape == (3, *y1["stage2"].shape)
    # upsampling path: 7x7 -> 14x14
    ad = make_adapter(y1["pre_embedding"], r18["stage3"])
    assert ad(torch.zeros(1, *y1["pre_embedding"].shape)).shape == (1, *r18["stage3"].shape)
    # vectors: 128-D -> 512-D linear; map -> vector flattens first
    ad = make_adapter(asst["embedding"], r18["embedding"])
    assert ad(torch.zeros(2, 128)).shape == (2, 512)
    ad = make_adapter(asst["pre_embedding"], r18["embedding"])
    assert ad(torch.zeros(2, 128, 2, 2)).shape == (2, 512)
    with pytest.raises(ValueError, match="vector"):
        make_adapter(asst["embedding"], r18["stage4"])


def test_resample_modes():
    x = torch.arange(9.0).view(1, 1, 3, 3)
    assert Resample((3, 3))(x) is x
    assert Resample((1, 1))(x).item() == pytest.approx(4.0)  # shrinking: mean of every cell
    assert Resample((6, 6))(x).shape == (1, 1, 6, 6)


def test_tapinfo_shape_helpers():
    t = TapInfo("stage2", 128, 8, (3, 3), "stages.1")
    assert t.is_map and t.shape == (128, 3, 3) and t.numel == 1152
    v = TapInfo("embedding", 64, None, None, "features")
    assert not v.is_map and v.shape == (64,) and v.numel == 64
