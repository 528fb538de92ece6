"""FitNet hints, Romero et al., "FitNets: Hints for Thin Deep Nets" (ICLR 2015).

``L = mean (r(F_s) - F_t)^2``  (Romero et al., Eq. 3, with a mean instead of 1/2 sum), where
``F_s`` is the student's guided tap, ``F_t`` the teacher's hint tap and ``r`` a learnable
regressor: a 1x1 convolution + BatchNorm from ``C_s`` to ``C_t`` channels (the paper used a
convolutional regressor; the 1x1-conv+BN form follows later benchmarks such as CRD's).

Where we had to choose: LR students and HR teachers have different spatial sizes, so the
larger map is adaptive-average-pooled to the smaller one before the MSE (after ``r`` for the
student).

Shapes: student tap ``(N, C_s, H_s, W_s)``, teacher tap ``(N, C_t, H_t, W_t)``; a scalar.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from lrface.distill.losses.base import (LOSSES, DistillLoss, LossContext, StreamOut, Terms, finish, get_tap,
                                        tap_channels)


def match_spatial(a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
    """Adaptive-average-pool whichever map is larger so both have the smaller ``(H, W)``."""
    size = (min(a.shape[-2], b.shape[-2]), min(a.shape[-1], b.shape[-1]))
    a = a if tuple(a.shape[-2:]) == size else F.adaptive_avg_pool2d(a, size)
    b = b if tuple(b.shape[-2:]) == size else F.adaptive_avg_pool2d(b, size)
    return a, b


@LOSSES.register("fitnet")
class FitNetLoss(DistillLoss):
    """Args:
        student_channels / teacher_channels: C_s / C_t (from the context's tap channels).
        tap: student tap name (``"last"`` = the deepest 4-D tap).
        teacher_tap: teacher tap name (default: same as ``tap``).
    """

    def __init__(self, student_channels: int, teacher_channels: int, tap: str = "last",
                 teacher_tap: Optional[str] = None) -> None:
        super().__init__()
        self.tap, self.teacher_tap = tap, teacher_tap or tap
        self.regressor = nn.Sequential(nn.Conv2d(student_channels, teacher_channels, 1, bias=False),
                                       nn.BatchNorm2d(teacher_channels))

    @classmethod
    def from_context(cls, context: Optional[LossContext] = None, **kwargs) -> "FitNetLoss":
        if context is not None:
            tap = kwargs.get("tap", "last")
            kwargs.setdefault("student_channels", tap_channels(context, "student", tap))
            kwargs.setdefault("teacher_channels", tap_channels(context, "teacher", kwargs.get("teacher_tap") or tap))
        return cls(**kwargs)

    def forward(self, student: StreamOut, teacher: StreamOut, assistant: Optional[StreamOut] = None,
                labels: Optional[Tensor] = None, index: Optional[Tensor] = None) -> Tuple[Tensor, Terms]:
        fs = self.regressor(get_tap(student, self.tap, "student"))
        ft = get_tap(teacher, self.teacher_tap, "teacher").detach()
        fs, ft = match_spatial(fs, ft)
        return finish({"hint": F.mse_loss(fs, ft)})
