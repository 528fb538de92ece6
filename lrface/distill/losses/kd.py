"""Logit distillation, Hinton et al., "Distilling the Knowledge in a Neural Network" (2015).

``L = T^2 * mean_i KL(softmax(z^t_i / T) || softmax(z^s_i / T))``  (Hinton et al., Sec. 2).

Our teacher (insightface y1) has NO classifier, so the class logits are built from class
centroids ``c_k`` (``(K, D_t)``, L2-normalised) of the teacher's embeddings on the training
set, passed in the context: ``z_ik = scale * cos(e_i, c_k)`` for the teacher (``e = t``) and
the student (``e = P s``, with ``P`` a learnable linear map when ``D_s != D_t``). ``scale``
plays the role of ArcFace's ``s`` (64) that the teacher's cosine logits were trained with.
If a stream carries its own ``logits`` they are NOT used (the centroid logits keep the two
streams on the same classes).

Shapes: embeddings ``(N, D_s)`` / ``(N, D_t)`` raw, centroids ``(K, D_t)``; returns a scalar.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from lrface.distill.losses.base import LOSSES, DistillLoss, StreamOut, Terms, finish, projection


@LOSSES.register("kd")
class KDLoss(DistillLoss):
    """Args:
        centroids: ``(K, D_t)`` teacher class centroids (from the context); re-normalised here.
        student_dim: D_s (from the context); a projection is made when it differs from D_t.
        temperature: T (4.0, the usual CIFAR/ImageNet KD setting, e.g. in CRD's benchmarks).
        scale: cosine-logit scale (64, ArcFace's s).
    """

    context_args = {"centroids": "centroids", "student_dim": "student_dim"}

    def __init__(self, centroids: Tensor, student_dim: Optional[int] = None,
                 temperature: float = 4.0, scale: float = 64.0) -> None:
        super().__init__()
        centroids = torch.as_tensor(centroids, dtype=torch.float32)
        if centroids.dim() != 2:
            raise ValueError(f"kd: centroids must be (K, D), got shape {tuple(centroids.shape)}")
        self.register_buffer("centroids", F.normalize(centroids, dim=1))
        self.temperature, self.scale = float(temperature), float(scale)
        self.proj = projection(student_dim, centroids.shape[1])

    def logits(self, embedding: Tensor) -> Tensor:
        """``(N, D_t) -> (N, K)`` cosine logits against the centroids."""
        return self.scale * F.normalize(embedding, dim=1) @ self.centroids.t()

    def forward(self, student: StreamOut, teacher: StreamOut, assistant: Optional[StreamOut] = None,
                labels: Optional[Tensor] = None, index: Optional[Tensor] = None) -> Tuple[Tensor, Terms]:
        T = self.temperature
        log_ps = F.log_softmax(self.logits(self.proj(student.embedding)) / T, dim=1)
        log_pt = F.log_softmax(self.logits(teacher.embedding.detach()) / T, dim=1)
        value = F.kl_div(log_ps, log_pt, reduction="batchmean", log_target=True) * T * T
        return finish({"kl": value})
