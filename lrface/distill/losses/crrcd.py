"""Cross-resolution relational contrastive distillation, CRRCD: Zhang, Ge et al.,
"Low-Resolution Object Recognition with Cross-Resolution Relational Contrastive Distillation"
(IEEE TCSVT 2024, arXiv 2409.02555).

Relations are learned vectors, not fixed potentials: a small MLP maps an embedding difference
to a relation vector. With ``t`` teacher (HR) and ``s`` student (LR) embeddings, ``P`` a
learnable linear map ``D_s -> D_t`` when sizes differ, and ``n(.)`` L2 normalisation:

* teacher-teacher relation:            ``r^tt_ij = n(g_tt(t_i - t_j))``
* teacher-student (cross-resolution):  ``r^ts_ij = n(g_ts(t_i - P s_j))``

For ``M`` anchor pairs ``(i, j)``, ``i != j``, sampled uniformly within the batch, the
student's relation is pulled towards the teacher's relation of the same pair and pushed from
teacher relations of other pairs, with the critic ``h(a, b) = exp(cos(a, b) / tau)``:

``L = -mean_(ij) log [ h(r^ts_ij, r^tt_ij) / (h(r^ts_ij, r^tt_ij) + sum_(kl) h(r^ts_ij, r^tt_kl)
                                                       + sum_m h(r^ts_ij, b_m)) ]``

where ``(kl)`` ranges over the other sampled pairs of the batch and ``b_m`` over ``K`` random
slots of a momentum memory bank of teacher relations.

Where we had to choose: (1) the bank is keyed by the dataset index of the pair's *second*
element ``j`` (slot ``index_j`` keeps a momentum average, 0.5, of ``r^tt_(.)j``), and a bank
slot equal to the anchor's own ``index_j`` is not used as a negative; (2) in-batch pairs
identical to the anchor pair are masked; (3) both relation MLPs are Linear-ReLU-Linear
(``D_t -> hidden -> rel_dim``), and ``g_tt`` is trained by this loss too (teacher
embeddings are detached, the relation module is not); (4) the contrast is one-directional
(student relation as anchor), like CRD's student term.

Learnable: ``g_tt``, ``g_ts``, ``P``. Needs ``index`` ``(N,)``. Shapes: embeddings
``(N, D_s)`` / ``(N, D_t)`` raw; returns term ``relation``.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lrface.distill.losses.base import LOSSES, DistillLoss, StreamOut, Terms, finish, projection, require
from lrface.distill.losses.memory import MomentumBank


def mlp(dim: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


def sample_pairs(n: int, m: int, device: torch.device) -> Tuple[Tensor, Tensor]:
    """``m`` uniform pairs ``(i, j)`` with ``i != j`` from ``range(n)``."""
    if n < 2:
        raise ValueError("crrcd needs a batch of at least 2 samples")
    i = torch.randint(n, (m,), device=device)
    j = (i + torch.randint(1, n, (m,), device=device)) % n
    return i, j


@LOSSES.register("crrcd")
class CRRCDLoss(DistillLoss):
    """Args:
        student_dim / teacher_dim: D_s / D_t (from the context).
        num_samples: dataset size = bank slots (from the context).
        rel_dim: relation vector size (128).
        hidden: MLP hidden size (256).
        num_pairs: anchor pairs per batch, M (64).
        num_negatives: bank negatives K (16384, capped to ``num_samples``).
        temperature: tau (0.07, as CRD).
        momentum: bank momentum (0.5, as CRD).
    """

    context_args = {"student_dim": "student_dim", "teacher_dim": "teacher_dim", "num_samples": "num_samples"}

    def __init__(self, student_dim: int, teacher_dim: int, num_samples: int, rel_dim: int = 128,
                 hidden: int = 256, num_pairs: int = 64, num_negatives: int = 16384,
                 temperature: float = 0.07, momentum: float = 0.5) -> None:
        super().__init__()
        self.proj = projection(student_dim, teacher_dim)
        self.g_tt = mlp(teacher_dim, hidden, rel_dim)
        self.g_ts = mlp(teacher_dim, hidden, rel_dim)
        self.bank = MomentumBank(num_samples, rel_dim, momentum)
        self.num_pairs = int(num_pairs)
        self.num_negatives = max(1, min(int(num_negatives), int(num_samples)))
        self.temperature = float(temperature)

    def forward(self, student: StreamOut, teacher: StreamOut, assistant: Optional[StreamOut] = None,
                labels: Optional[Tensor] = None, index: Optional[Tensor] = None) -> Tuple[Tensor, Terms]:
        index = require(index, "index", "crrcd").to(student.embedding.device).long()
        s, t = self.proj(student.embedding), teacher.embedding.detach()
        i, j = sample_pairs(s.shape[0], self.num_pairs, s.device)
        r_tt = F.normalize(self.g_tt(t[i] - t[j]), dim=1)  # (M, R)
        r_ts = F.normalize(self.g_ts(t[i] - s[j]), dim=1)  # (M, R)
        batch = r_ts @ r_tt.t()  # (M, M): diagonal = positives
        same = (i[:, None] == i[None, :]) & (j[:, None] == j[None, :])
        neg_batch = batch.masked_fill(same, float("-inf"))  # also hides the diagonal
        bank, bank_mask = self.bank.sample(len(i), self.num_negatives, index[j])
        neg_bank = torch.einsum("mr,mkr->mk", r_ts, bank).masked_fill(bank_mask, float("-inf"))
        logits = torch.cat([batch.diagonal()[:, None], neg_batch, neg_bank], dim=1) / self.temperature
        value = -F.log_softmax(logits, dim=1)[:, 0].mean()
        if self.training:
            self.bank.update(index[j], r_tt)
        return finish({"relation": value})
