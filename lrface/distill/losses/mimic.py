"""Embedding mimicking: the student's embedding regresses the teacher's.

The instance-level term used by most LR-FR distillers, e.g. Ge et al., "Low-resolution face
recognition in the wild via selective knowledge distillation" (IEEE TIP 2019), and the first
order term of HORKD. On L2-normalised embeddings ``s^ = P s / ||P s||``, ``t^ = t / ||t||``:

* ``kind="l2"``:     ``L = mean_i ||s^_i - t^_i||_2^2``      (= 2 - 2 cos, in [0, 4])
* ``kind="cosine"``: ``L = mean_i (1 - cos(P s_i, t_i))``   (in [0, 2])
* ``kind="mse"``:    ``L = mean_i ||P s_i - t_i||_2^2`` on the *raw* embeddings: the whole
  vector, length included. For a teacher whose embeddings share one narrow cone (dlib's:
  every face about cosine 0.9 from the mean direction) the cosine terms reward the mean
  direction almost as much as the identity, while the squared distance (dlib's own metric)
  weighs only what tells faces apart.

``center=True`` first subtracts the teacher's mean embedding on the training set (from the
context) from both sides of the cosine kinds, so their angles measure what tells faces apart
(the ``mse`` kind does not change).

``P`` is a learnable bias-free linear map ``D_s -> D_t`` when the sizes differ (identity
otherwise, or always a map with ``project=True``).

Shapes: student/teacher embeddings ``(N, D_s)`` / ``(N, D_t)``, raw; returns a scalar.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch.nn.functional as F
from torch import Tensor

from lrface.distill.losses.base import LOSSES, DistillLoss, StreamOut, Terms, finish, projection


@LOSSES.register("mimic")
class MimicLoss(DistillLoss):
    """Args:
        student_dim / teacher_dim: embedding sizes (from the context); a projection is made
            when they differ.
        kind: ``"l2"``, ``"cosine"`` or ``"mse"``.
        project: always use a learnable projection, even for equal sizes.
    """

    context_args = {"student_dim": "student_dim", "teacher_dim": "teacher_dim", "teacher_mean": "teacher_mean"}

    def __init__(self, student_dim: Optional[int] = None, teacher_dim: Optional[int] = None,
                 kind: str = "cosine", project: bool = False, center: bool = False,
                 teacher_mean: Optional[Tensor] = None) -> None:
        super().__init__()
        if kind not in ("l2", "cosine", "mse"):
            raise ValueError(f"mimic: kind must be 'l2', 'cosine' or 'mse', got {kind!r}")
        if center and teacher_mean is None:
            raise ValueError("mimic: center=True needs the teacher's mean embedding (a run with a teacher cache)")
        self.kind = kind
        self.proj = projection(student_dim, teacher_dim, force=project)
        self.register_buffer("mean", teacher_mean.detach().float().clone() if center else None, persistent=False)

    def forward(self, student: StreamOut, teacher: StreamOut, assistant: Optional[StreamOut] = None,
                labels: Optional[Tensor] = None, index: Optional[Tensor] = None) -> Tuple[Tensor, Terms]:
        if self.kind == "mse":
            return finish({self.kind: (self.proj(student.embedding) - teacher.embedding.detach()).pow(2).sum(1).mean()})
        s, t = self.proj(student.embedding), teacher.embedding.detach()
        if self.mean is not None:
            s, t = s - self.mean, t - self.mean
        s, t = F.normalize(s, dim=1), F.normalize(t, dim=1)
        if self.kind == "l2":
            value = (s - t).pow(2).sum(1).mean()
        else:
            value = (1 - (s * t).sum(1)).mean()
        return finish({self.kind: value})
