"""Similarity-preserving KD, Tung & Mori, "Similarity-Preserving Knowledge Distillation" (ICCV 2019).

With ``A = flatten(F)`` ``(N, C*H*W)`` for a tap (or the ``(N, D)`` embedding):
``G = A A^T`` (N x N, Eq. 1), ``G~ = G / ||G_row||_2`` row-wise (Eq. 2), and
``L = ||G~_t - G~_s||_F^2 / N^2`` (Eq. 3-4). The Gram matrix only depends on N, so student and
teacher may differ in channels and spatial size.

Where we had to choose: the paper pairs the last block of each network; our default is the
embedding (always present in a :class:`StreamOut`); set ``tap="last"`` for the deepest map.

Shapes: tap ``(N, C, H, W)`` or embedding ``(N, D)``; returns a scalar.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch.nn.functional as F
from torch import Tensor

from lrface.distill.losses.base import LOSSES, DistillLoss, StreamOut, Terms, finish, get_tap


def similarity(x: Tensor) -> Tensor:
    """Row-normalised batch Gram matrix ``(N, N)`` of ``x`` ``(N, ...)``."""
    a = x.flatten(1)
    return F.normalize(a @ a.t(), dim=1)


@LOSSES.register("sp")
class SPLoss(DistillLoss):
    """Args:
        tap: student tap (``"embedding"``, ``"last"`` or a name).
        teacher_tap: teacher tap (default: same as ``tap``).
    """

    def __init__(self, tap: str = "embedding", teacher_tap: Optional[str] = None) -> None:
        super().__init__()
        self.tap, self.teacher_tap = tap, teacher_tap or tap

    def forward(self, student: StreamOut, teacher: StreamOut, assistant: Optional[StreamOut] = None,
                labels: Optional[Tensor] = None, index: Optional[Tensor] = None) -> Tuple[Tensor, Terms]:
        gs = similarity(get_tap(student, self.tap, "student"))
        gt = similarity(get_tap(teacher, self.teacher_tap, "teacher").detach())
        n = gs.shape[0]
        return finish({"sp": (gs - gt).pow(2).sum() / (n * n)})
