"""Margin-based classification heads for training face embedders.

A head holds one weight vector per training identity and turns embeddings into logits; the
loss is then plain ``F.cross_entropy(logits, labels)``. Both embeddings and class weights are
L2-normalised, so a non-target logit is ``s * cos(theta_j)``.

* :class:`CombinedMarginHead`: target logit ``s * (cos(m1 * theta + m2) - m3)``, the combined
  margin of Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition"
  (CVPR 2019, Eq. 4). ``m1`` is SphereFace's multiplicative angular margin (Liu et al.,
  CVPR 2017), ``m2`` ArcFace's additive angular margin, ``m3`` CosFace's additive cosine margin
  (Wang et al., CVPR 2018).
* :class:`AdaFaceHead`: Kim et al., "AdaFace: Quality Adaptive Margin for Face Recognition"
  (CVPR 2022): the margin moves between ArcFace-like and CosFace-like depending on the feature
  norm (a proxy for image quality) relative to batch statistics.

Example:
    >>> head = HEADS.get("arcface")(embedding_size=128, num_classes=10)
    >>> logits = head(torch.randn(4, 128), torch.tensor([0, 1, 2, 3]))
    >>> loss = F.cross_entropy(logits, torch.tensor([0, 1, 2, 3]))
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lrface.registry import Registry

__all__ = ["HEADS", "CombinedMarginHead", "AdaFaceHead", "NormalizedLinear"]

#: name -> factory(embedding_size, num_classes, **kwargs) -> head module
HEADS: Registry[Callable[..., nn.Module]] = Registry("head")

# Keeps acos' gradient (-1/sqrt(1 - c^2)) finite: at |c| = 1 - 1e-7 it is about 2e3, and
# float32 still resolves 1 - 1e-7 (the angle is then off by at most ~5e-4 rad at c = +-1).
_EPS = 1e-7


class NormalizedLinear(nn.Module):
    """Cosine similarities between L2-normalised embeddings and class weights.

    Args:
        embedding_size: D.
        num_classes: C.

    Returns (forward): ``(N, C)`` cosines in ``[-1, 1]``.
    """

    def __init__(self, embedding_size: int, num_classes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_size))
        nn.init.normal_(self.weight, std=0.01)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(embeddings, dim=1), F.normalize(self.weight, dim=1))


def _target_mask(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    # Negative labels (e.g. samples of identities held by another shard in partial-FC
    # training, as in insightface) get no margin; one_hot cannot take them directly.
    valid = labels >= 0
    mask = F.one_hot(labels.clamp(min=0), num_classes).bool()
    return mask & valid[:, None]


class CombinedMarginHead(NormalizedLinear):
    """``s * (cos(m1*theta + m2) - m3)`` for the target class, ``s * cos(theta)`` otherwise.

    Numerical safety follows insightface's combined-margin loss: cosines are clamped away from
    +-1 before ``acos``; with ``easy_margin`` the margin is applied only where ``cos > 0``;
    otherwise, past ``m1*theta + m2 > pi`` (where ``cos(.)`` would turn back up and *reward*
    a larger angle) ArcFace (``m1 == 1``) falls back to insightface's ``cos(theta) - m2*sin(m2)``
    (minus ``m3``), and ``m1 != 1`` uses SphereFace's monotone extension
    ``(-1)^k cos(m1*theta + m2) - 2k`` with ``k = floor((m1*theta + m2) / pi)`` (Liu et al. 2017).

    Args:
        embedding_size: D.
        num_classes: C.
        s: logit scale (64 in ArcFace/CosFace).
        m1: multiplicative angular margin (SphereFace), 1.0 = none.
        m2: additive angular margin in radians (ArcFace: 0.5).
        m3: additive cosine margin (CosFace: 0.35).
        easy_margin: apply the margin only where ``cos(theta) > 0``.

    Returns (forward): logits ``(N, C)``.

    Example:
        >>> head = CombinedMarginHead(2, 2, s=1.0, m2=0.5)
        >>> with torch.no_grad(): _ = head.weight.copy_(torch.eye(2))
        >>> logits = head(torch.tensor([[0.6, 0.8]]), torch.tensor([0]))
        >>> [round(v, 3) for v in logits[0].tolist()]  # [cos(acos(0.6) + 0.5), 0.8]
        [0.143, 0.8]
    """

    def __init__(
        self,
        embedding_size: int,
        num_classes: int,
        s: float = 64.0,
        m1: float = 1.0,
        m2: float = 0.5,
        m3: float = 0.0,
        easy_margin: bool = False,
    ) -> None:
        super().__init__(embedding_size, num_classes)
        if m1 < 1.0 or m2 < 0.0 or m3 < 0.0:
            raise ValueError(f"margins must satisfy m1 >= 1, m2 >= 0, m3 >= 0; got {m1}, {m2}, {m3}")
        self.s, self.m1, self.m2, self.m3 = float(s), float(m1), float(m2), float(m3)
        self.easy_margin = bool(easy_margin)

    def target_logit(self, cos: torch.Tensor) -> torch.Tensor:
        """Margin-adjusted target cosine (before scaling by ``s``) for cosines ``cos``."""
        if self.m1 == 1.0 and self.m2 == 0.0:
            return cos - self.m3  # CosFace / plain normalised softmax: already monotone
        c = cos.clamp(-1.0 + _EPS, 1.0 - _EPS)
        angle = self.m1 * torch.acos(c) + self.m2
        phi = torch.cos(angle) - self.m3
        if self.easy_margin:
            return torch.where(c > 0, phi, c)
        if self.m1 == 1.0:
            fallback = c - self.m2 * math.sin(self.m2) - self.m3
        else:
            k = torch.floor(angle / math.pi)
            sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
            fallback = sign * torch.cos(angle) - 2.0 * k - self.m3
        return torch.where(angle <= math.pi, phi, fallback)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Args: embeddings ``(N, D)`` (any norm), labels ``(N,)`` int64 (``< 0``: no margin).

        Returns: logits ``(N, C)``.
        """
        cos = super().forward(embeddings)
        mask = _target_mask(labels, cos.shape[1])
        return self.s * torch.where(mask, self.target_logit(cos), cos)

    def extra_repr(self) -> str:
        return f"s={self.s}, m1={self.m1}, m2={self.m2}, m3={self.m3}, easy_margin={self.easy_margin}"


class AdaFaceHead(NormalizedLinear):
    """AdaFace (Kim et al., CVPR 2022): feature-norm-adaptive margin.

    With ``||z||`` the (detached) embedding norm, and ``mu``, ``sigma`` exponential moving
    averages (momentum ``t_alpha``) of the batch mean and std of norms:
    ``zhat = clip(h * (||z|| - mu) / (sigma + eps), -1, 1)``,
    ``g_angle = -m * zhat``, ``g_add = m * zhat + m``, and the target logit is
    ``s * (cos(clip(theta + g_angle, eps, pi - eps)) - g_add)`` (paper Eq. 11-12).
    Low-norm (hard, low-quality) samples get an ArcFace-like angular margin, high-norm ones a
    CosFace-like additive margin. Statistics are updated in training mode only.

    Args:
        embedding_size: D.
        num_classes: C.
        s: logit scale (64).
        m: margin (0.4).
        h: concentration of ``zhat`` (0.333: ~68% of samples in ``[-1, 1]`` before clipping).
        t_alpha: EMA momentum for the norm statistics (0.01).

    Returns (forward): logits ``(N, C)``.

    Example:
        >>> head = AdaFaceHead(128, 10)
        >>> head(torch.randn(4, 128), torch.tensor([0, 1, 2, 3])).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        embedding_size: int,
        num_classes: int,
        s: float = 64.0,
        m: float = 0.4,
        h: float = 0.333,
        t_alpha: float = 0.01,
        eps: float = 1e-3,
    ) -> None:
        super().__init__(embedding_size, num_classes)
        self.s, self.m, self.h, self.t_alpha, self.eps = float(s), float(m), float(h), float(t_alpha), float(eps)
        # Initial values as in the AdaFace reference setup: a wide std makes early margins
        # close to the midpoint (zhat ~ 0) until real statistics accumulate.
        self.register_buffer("batch_mean", torch.tensor(20.0))
        self.register_buffer("batch_std", torch.tensor(100.0))

    def margin_scaler(self, norms: torch.Tensor) -> torch.Tensor:
        """``zhat`` for detached norms ``(N,)``; updates the EMA statistics in training mode."""
        norms = norms.detach().clamp(0.001, 100.0)
        if self.training and norms.numel() > 1:
            with torch.no_grad():
                a = self.t_alpha
                self.batch_mean.mul_(1 - a).add_(a * norms.mean())
                self.batch_std.mul_(1 - a).add_(a * norms.std())
        z = (norms - self.batch_mean) / (self.batch_std + self.eps)
        return (z * self.h).clamp(-1.0, 1.0)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Args: embeddings ``(N, D)`` un-normalised (their norm matters), labels ``(N,)``.

        Returns: logits ``(N, C)``.
        """
        cos = super().forward(embeddings).clamp(-1.0 + _EPS, 1.0 - _EPS)
        zhat = self.margin_scaler(embeddings.norm(dim=1))[:, None]
        g_angle = -self.m * zhat
        g_add = self.m * zhat + self.m
        theta = torch.acos(cos)
        target = torch.cos((theta + g_angle).clamp(self.eps, math.pi - self.eps)) - g_add
        mask = _target_mask(labels, cos.shape[1])
        return self.s * torch.where(mask, target, cos)

    def extra_repr(self) -> str:
        return f"s={self.s}, m={self.m}, h={self.h}, t_alpha={self.t_alpha}"


def _combined(**defaults: float) -> Callable[..., CombinedMarginHead]:
    def factory(embedding_size: int, num_classes: int, **kw: float) -> CombinedMarginHead:
        return CombinedMarginHead(embedding_size, num_classes, **{**defaults, **kw})

    return factory


# Defaults: ArcFace m2=0.5, CosFace m3=0.35 (Wang et al. 2018), SphereFace-style m1=1.35 and
# combined (1.0, 0.3, 0.2): the settings compared in the ArcFace paper (CVPR 2019, Table 2).
HEADS.register("arcface", _combined(s=64.0, m1=1.0, m2=0.5, m3=0.0))
HEADS.register("cosface", _combined(s=64.0, m1=1.0, m2=0.0, m3=0.35))
HEADS.register("sphereface", _combined(s=64.0, m1=1.35, m2=0.0, m3=0.0))
HEADS.register("combined", _combined(s=64.0, m1=1.0, m2=0.3, m3=0.2))
HEADS.register("adaface", AdaFaceHead)


def create_head(name: str, embedding_size: int, num_classes: int, **kwargs: float) -> nn.Module:
    """Build a registered head, e.g. ``create_head("cosface", 128, 1000, s=32.0)``.

    Args:
        name: one of ``HEADS.names()``.
        embedding_size: D.
        num_classes: C.
        **kwargs: overrides of the head's defaults (s, m1, m2, m3, easy_margin, ...).

    Returns:
        the head module.
    """
    return HEADS.get(name)(embedding_size, num_classes, **kwargs)
