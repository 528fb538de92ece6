"""Margin heads against hand-computed logits (ArcFace / CosFace / SphereFace / AdaFace)."""
from __future__ import annotations

import math

import pytest
import torch

from lrface.models.heads import HEADS, AdaFaceHead, CombinedMarginHead, create_head


def _head(cls=CombinedMarginHead, **kw):
    """2 classes in 2-D with unit weights e0, e1: the angle to class 0 is the input angle."""
    h = cls(2, 2, **kw)
    with torch.no_grad():
        h.weight.copy_(torch.eye(2))
    return h


def _at(angle: float, norm: float = 1.0) -> torch.Tensor:
    return torch.tensor([[math.cos(angle), math.sin(angle)]]) * norm


def test_registry_names():
    assert set(HEADS.names()) >= {"arcface", "cosface", "sphereface", "combined", "adaface"}
    for name in HEADS.names():
        head = create_head(name, 8, 5)
        assert head(torch.randn(3, 8), torch.tensor([0, 1, 4])).shape == (3, 5)


@pytest.mark.parametrize(
    "name, expected_target",
    [
        ("arcface", lambda t: math.cos(t + 0.5)),
        ("cosface", lambda t: math.cos(t) - 0.35),
        ("sphereface", lambda t: math.cos(1.35 * t)),
        ("combined", lambda t: math.cos(t + 0.3) - 0.2),
    ],
)
def test_registered_margins_by_hand(name, expected_target):
    theta, s = 0.3, 64.0
    head = create_head(name, 2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.eye(2))
    logits = head(_at(theta, norm=7.0), torch.tensor([0]))  # the embedding norm must not matter
    assert logits[0, 0].item() == pytest.approx(s * expected_target(theta), abs=1e-3)
    assert logits[0, 1].item() == pytest.approx(s * math.sin(theta), abs=1e-3)  # cos(pi/2 - theta)


def test_arcface_hard_region_uses_insightface_fallback():
    head = _head(s=1.0, m2=0.5)
    theta = 3.0  # theta + m > pi: cos would increase again
    out = head(_at(theta), torch.tensor([0]))[0, 0].item()
    assert out == pytest.approx(math.cos(theta) - 0.5 * math.sin(0.5), abs=1e-5)


def test_sphereface_monotone_extension_beyond_pi():
    head = _head(s=1.0, m1=1.35, m2=0.0)
    theta = 2.9
    a = 1.35 * theta  # in (pi, 2 pi): k = 1
    assert head(_at(theta), torch.tensor([0]))[0, 0].item() == pytest.approx(-math.cos(a) - 2.0, abs=1e-5)
    thetas = torch.linspace(0.01, math.pi - 0.01, 200)
    vals = head.target_logit(torch.cos(thetas))
    assert (vals[1:] <= vals[:-1] + 1e-6).all(), "target logit must fall as the angle grows"


def test_easy_margin_only_for_positive_cosines():
    head = _head(s=1.0, m2=0.5, easy_margin=True)
    assert head(_at(2.0), torch.tensor([0]))[0, 0].item() == pytest.approx(math.cos(2.0), abs=1e-5)
    assert head(_at(0.4), torch.tensor([0]))[0, 0].item() == pytest.approx(math.cos(0.9), abs=1e-5)


def test_negative_label_gets_no_margin():
    head = _head(s=2.0, m2=0.5)
    out = head(_at(0.3), torch.tensor([-1]))
    torch.testing.assert_close(out, 2.0 * torch.tensor([[math.cos(0.3), math.sin(0.3)]]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kw", [dict(m2=0.5), dict(m1=1.35, m2=0.0), dict(m2=0.0, m3=0.35), dict(m2=0.3, m3=0.2)])
def test_gradients_finite_at_exact_alignment(kw):
    head = _head(s=64.0, **kw)
    emb = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], requires_grad=True)  # cos = +1 and -1 exactly
    logits = head(emb, torch.tensor([0, 0]))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 0])).backward()
    assert torch.isfinite(logits).all() and torch.isfinite(emb.grad).all()
    assert torch.isfinite(head.weight.grad).all()


def test_invalid_margins_raise():
    with pytest.raises(ValueError):
        CombinedMarginHead(4, 3, m1=0.5)


def test_adaface_by_hand_in_eval_mode():
    head = _head(AdaFaceHead, s=10.0, m=0.4, h=0.333).eval()
    head.batch_mean.fill_(10.0)
    head.batch_std.fill_(5.0)
    theta, norm = 0.6, 20.0
    zhat = max(-1.0, min(1.0, 0.333 * (norm - 10.0) / (5.0 + 1e-3)))
    g_angle, g_add = -0.4 * zhat, 0.4 * zhat + 0.4
    expected = 10.0 * (math.cos(theta + g_angle) - g_add)
    out = head(_at(theta, norm), torch.tensor([0]))
    assert out[0, 0].item() == pytest.approx(expected, abs=1e-3)
    assert out[0, 1].item() == pytest.approx(10.0 * math.sin(theta), abs=1e-3)
    assert head.batch_mean.item() == 10.0  # no statistics update in eval mode


def test_adaface_low_norm_is_arcface_like_high_norm_cosface_like():
    head = _head(AdaFaceHead, s=1.0, m=0.4).eval()
    head.batch_mean.fill_(10.0)
    head.batch_std.fill_(1.0)
    theta = 0.5
    low = head(_at(theta, 1.0), torch.tensor([0]))[0, 0].item()  # zhat = -1
    high = head(_at(theta, 30.0), torch.tensor([0]))[0, 0].item()  # zhat = +1
    assert low == pytest.approx(math.cos(theta + 0.4), abs=1e-5)
    assert high == pytest.approx(math.cos(theta - 0.4) - 0.8, abs=1e-5)


def test_adaface_ema_update_in_training():
    head = AdaFaceHead(4, 3, t_alpha=0.01).train()
    emb = torch.tensor([[3.0, 0, 0, 0], [0, 5.0, 0, 0], [0, 0, 10.0, 0]])
    head(emb, torch.tensor([0, 1, 2]))
    norms = torch.tensor([3.0, 5.0, 10.0])
    assert head.batch_mean.item() == pytest.approx(0.99 * 20.0 + 0.01 * norms.mean().item(), abs=1e-5)
    assert head.batch_std.item() == pytest.approx(0.99 * 100.0 + 0.01 * norms.std().item(), abs=1e-5)
    logits = head(emb.requires_grad_(), torch.tensor([0, 1, 2]))
    logits.sum().backward()
    assert torch.isfinite(emb.grad).all()
