"""Hybrid-order relational KD, HORKD: Ge, Zhang et al., "Look One and More: Distilling Hybrid
Order Relational Knowledge for Cross-Resolution Image Recognition" (AAAI 2020, arXiv 2409.05384).

Three streams: a frozen HR teacher, an HR assistant (a bridge) and the LR student. For each
link ``x -> s`` (``x = t``: teacher, and ``x = a``: assistant when given), on embeddings
(``^`` = L2-normalised, ``P_x`` a learnable linear map ``D_s -> D_x`` when sizes differ):

* first order (instance):   ``L1 = mean_i (1 - cos(P_x s_i, x_i))``, or with ``first_kind="l2"``
  ``mean_i ||(P_x s_i)^ - x^_i||^2``
* second order (pairs):     ``L2 = mean_{i != j} (cos(s_i, s_j) - cos(x_i, x_j))^2``, or with
  ``second_kind="distance"`` RKD's normalised-distance Huber loss (Park et al. 2019, Eq. 5)
* third order (triplets):   ``L3 = mean_{ijk} l_delta(<e^s_ij, e^s_kj>, <e^x_ij, e^x_kj>)``, RKD's
  angle potential on normalised embeddings

``L = sum_x w_x (w1 L1 + w2 L2 + w3 L3)`` with ``w_t = w_teacher``, ``w_a = w_assistant``;
terms are named ``t/first``, ``t/second``, ``t/third``, ``a/first``, ... (already weighted).

Where we had to choose: the order weights (1, 1, 2 by default; third:second = 2:1 follows
RKD's angle:distance ratio 50:25) and the exact potentials are our reading of the paper's
"similarities in various order relational structures"; all orders use L2-normalised
embeddings, the space our models are evaluated in (cosine scores).

Training the assistant against the teacher: call this loss with ``student=assistant_stream``
and no ``assistant``, built from ``LossContext.for_assistant()``.

Shapes: embeddings ``(N, D_s)``, ``(N, D_t)``, ``(N, D_a)``; third order is ``O(N^3)`` memory.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from lrface.distill.losses.base import LOSSES, DistillLoss, StreamOut, Terms, finish, projection
from lrface.distill.losses.functional import cosine_matrix, normalized_distances, off_diagonal, triplet_angles


@LOSSES.register("horkd")
class HORKDLoss(DistillLoss):
    """Args:
        student_dim / teacher_dim / assistant_dim: embedding sizes (from the context).
        w_teacher / w_assistant: link weights (1.0 / 1.0).
        w_first / w_second / w_third: order weights (1.0 / 1.0 / 2.0).
        first_kind: ``"cosine"`` or ``"l2"``.
        second_kind: ``"similarity"`` or ``"distance"``.
    """

    context_args = {"student_dim": "student_dim", "teacher_dim": "teacher_dim", "assistant_dim": "assistant_dim"}

    def __init__(self, student_dim: Optional[int] = None, teacher_dim: Optional[int] = None,
                 assistant_dim: Optional[int] = None, w_teacher: float = 1.0, w_assistant: float = 1.0,
                 w_first: float = 1.0, w_second: float = 1.0, w_third: float = 2.0,
                 first_kind: str = "cosine", second_kind: str = "similarity") -> None:
        super().__init__()
        if first_kind not in ("cosine", "l2") or second_kind not in ("similarity", "distance"):
            raise ValueError(f"horkd: first_kind in (cosine, l2), second_kind in (similarity, distance); "
                             f"got {first_kind!r}, {second_kind!r}")
        self.links = {"t": float(w_teacher), "a": float(w_assistant)}
        self.orders = {"first": float(w_first), "second": float(w_second), "third": float(w_third)}
        self.first_kind, self.second_kind = first_kind, second_kind
        self.proj = nn.ModuleDict({"t": projection(student_dim, teacher_dim),
                                   "a": projection(student_dim, assistant_dim)})

    def _link(self, key: str, s: Tensor, x: Tensor) -> Dict[str, Tensor]:
        out: Dict[str, Tensor] = {}
        w = self.links[key]
        if self.orders["first"]:
            ps, xn = F.normalize(self.proj[key](s), dim=1), F.normalize(x, dim=1)
            first = (ps - xn).pow(2).sum(1) if self.first_kind == "l2" else 1 - (ps * xn).sum(1)
            out[f"{key}/first"] = w * self.orders["first"] * first.mean()
        if self.orders["second"]:
            if self.second_kind == "similarity":
                second = F.mse_loss(off_diagonal(cosine_matrix(s)), off_diagonal(cosine_matrix(x)))
            else:
                second = F.smooth_l1_loss(normalized_distances(s), normalized_distances(x))
            out[f"{key}/second"] = w * self.orders["second"] * second
        if self.orders["third"]:
            sn, xn = F.normalize(s, dim=1), F.normalize(x, dim=1)
            third = F.smooth_l1_loss(triplet_angles(sn), triplet_angles(xn))
            out[f"{key}/third"] = w * self.orders["third"] * third
        return out

    def forward(self, student: StreamOut, teacher: StreamOut, assistant: Optional[StreamOut] = None,
                labels: Optional[Tensor] = None, index: Optional[Tensor] = None) -> Tuple[Tensor, Terms]:
        s = student.embedding
        terms = self._link("t", s, teacher.embedding.detach()) if self.links["t"] else {}
        if assistant is not None and self.links["a"]:
            terms.update(self._link("a", s, assistant.embedding.detach()))
        if not terms:
            terms["t/first"] = s.sum() * 0.0  # every weight is zero: a zero that keeps the graph
        return finish(terms)
