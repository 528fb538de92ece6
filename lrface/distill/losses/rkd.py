"""Relational KD, Park et al., "Relational Knowledge Distillation" (CVPR 2019).

With ``l_delta`` the Huber (smooth-L1, delta = 1) loss, over the batch:

* distance (Eq. 3-5): ``psi_D(x_i, x_j) = ||x_i - x_j|| / mu`` (``mu``: mean distance over
  pairs ``i != j``); ``L_D = mean_{i != j} l_delta(psi_D(t_i, t_j), psi_D(s_i, s_j))``
* angle (Eq. 6-7): ``psi_A(x_i, x_j, x_k) = <e_ij, e_kj>``, ``e_ij = (x_i - x_j)/||x_i - x_j||``;
  ``L_A = mean_{ijk} l_delta(psi_A(t), psi_A(s))``

``L = distance_weight * L_D + angle_weight * L_A`` (paper defaults 25 and 50). Relations only
depend on N, so ``D_s != D_t`` needs no projection. Embeddings are used raw, as in the paper
(both potentials are scale-invariant); ``normalize=True`` L2-normalises them first.

Shapes: embeddings ``(N, D_s)`` / ``(N, D_t)`` (or taps, flattened); returns terms
``distance`` and ``angle`` (already weighted). The angle term costs ``O(N^3)`` memory.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch.nn.functional as F
from torch import Tensor

from lrface.distill.losses.base import LOSSES, DistillLoss, StreamOut, Terms, finish, get_tap
from lrface.distill.losses.functional import normalized_distances, triplet_angles


@LOSSES.register("rkd")
class RKDLoss(DistillLoss):
    """Args:
        distance_weight: weight of the distance term (25).
        angle_weight: weight of the angle term (50).
        tap: what to relate: ``"embedding"`` (default) or a tap name (flattened).
        normalize: L2-normalise the vectors first.
    """

    def __init__(self, distance_weight: float = 25.0, angle_weight: float = 50.0, tap: str = "embedding",
                 normalize: bool = False) -> None:
        super().__init__()
        self.distance_weight, self.angle_weight = float(distance_weight), float(angle_weight)
        self.tap, self.normalize = tap, bool(normalize)
        if not (self.distance_weight or self.angle_weight):
            raise ValueError("rkd: distance_weight and angle_weight are both 0")

    def _vec(self, stream: StreamOut, who: str) -> Tensor:
        x = get_tap(stream, self.tap, who).flatten(1)
        return F.normalize(x, dim=1) if self.normalize else x

    def forward(self, student: StreamOut, teacher: StreamOut, assistant: Optional[StreamOut] = None,
                labels: Optional[Tensor] = None, index: Optional[Tensor] = None) -> Tuple[Tensor, Terms]:
        s, t = self._vec(student, "student"), self._vec(teacher, "teacher").detach()
        terms = {}
        if self.distance_weight:
            d_s, d_t = normalized_distances(s), normalized_distances(t)
            terms["distance"] = self.distance_weight * F.smooth_l1_loss(d_s, d_t)
        if self.angle_weight:
            terms["angle"] = self.angle_weight * F.smooth_l1_loss(triplet_angles(s), triplet_angles(t))
        return finish(terms)
