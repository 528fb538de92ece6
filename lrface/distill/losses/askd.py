"""Attention-similarity KD, A-SKD: Shin et al., "Teaching Where to Look: Attention Similarity
Knowledge Distillation for Low Resolution Face Recognition" (ECCV 2022).

A-SKD makes the LR student's attention maps similar to the HR teacher's:
``L = weight * mean_l mean_i (1 - cos(a^s_{l,i}, a^t_{l,i}))`` over the distilled stages l
(paper: 5.0 x (1 - cosine), next to an ArcFace s=32 identity loss; see ``identity.py``).

Where we had to choose (our adaptation): the paper reads the attention maps of CBAM modules
inside both networks; our backbones have no CBAM, so maps are computed from each tap without
learned parameters:

* ``mode="at"`` (default): spatial attention ``a = mean_c F_c^2`` ``(N, H, W)``, the activation
  map of Zagoruyko & Komodakis (ICLR 2017, "attention transfer", p = 2);
* ``mode="cbam"``: the two maps CBAM's spatial attention starts from (Woo et al., ECCV 2018,
  Eq. 3 before its conv): ``[mean_c F, max_c F]`` ``(N, 2, H, W)``.

Maps are pooled to the smaller spatial size (adaptive average pooling of the tap), flattened
and compared by cosine, which also makes them scale-free (the L2 normalisation of the paper).
Channels may differ between student and teacher.

Shapes: taps ``(N, C_s, H_s, W_s)`` / ``(N, C_t, H_t, W_t)`` per pair; returns a scalar.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from lrface.distill.losses.base import LOSSES, DistillLoss, StreamOut, Terms, finish, get_tap
from lrface.distill.losses.fitnet import match_spatial


def attention_map(f: Tensor, mode: str = "at") -> Tensor:
    """``(N, C, H, W)`` -> flattened parameter-free attention ``(N, H*W)`` or ``(N, 2*H*W)``."""
    if mode == "at":
        return f.pow(2).mean(1).flatten(1)
    return torch.cat([f.mean(1), f.amax(1)], dim=1).flatten(1)


@LOSSES.register("askd")
class ASKDLoss(DistillLoss):
    """Args:
        taps: student taps to distil (``"last"`` = deepest).
        teacher_taps: the matching teacher taps (default: same names).
        weight: the paper's 5.0.
        mode: ``"at"`` or ``"cbam"``.
    """

    def __init__(self, taps: Sequence[str] = ("last",), teacher_taps: Optional[Sequence[str]] = None,
                 weight: float = 5.0, mode: str = "at") -> None:
        super().__init__()
        if mode not in ("at", "cbam"):
            raise ValueError(f"askd: mode must be 'at' or 'cbam', got {mode!r}")
        self.taps = [taps] if isinstance(taps, str) else list(taps)
        teacher_taps = [teacher_taps] if isinstance(teacher_taps, str) else teacher_taps
        self.teacher_taps = list(teacher_taps) if teacher_taps is not None else list(self.taps)
        if len(self.teacher_taps) != len(self.taps) or not self.taps:
            raise ValueError(f"askd: taps {self.taps} and teacher_taps {self.teacher_taps} must pair up")
        self.weight, self.mode = float(weight), mode

    def forward(self, student: StreamOut, teacher: StreamOut, assistant: Optional[StreamOut] = None,
                labels: Optional[Tensor] = None, index: Optional[Tensor] = None) -> Tuple[Tensor, Terms]:
        losses = []
        for ts, tt in zip(self.taps, self.teacher_taps):
            fs, ft = match_spatial(get_tap(student, ts, "student"), get_tap(teacher, tt, "teacher").detach())
            a_s, a_t = attention_map(fs, self.mode), attention_map(ft, self.mode)
            losses.append((1 - F.cosine_similarity(a_s, a_t, dim=1, eps=1e-8)).mean())
        return finish({"attention": self.weight * torch.stack(losses).mean()})
