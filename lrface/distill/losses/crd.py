"""Contrastive representation distillation, CRD: Tian et al., "Contrastive Representation
Distillation" (ICLR 2020).

Embed heads ``g_s: D_s -> 128``, ``g_t: D_t -> 128`` (linear, then L2 norm, Sec. 3.4) map
both streams into a shared space. Two memory banks of size ``num_samples`` (keyed by the
dataset ``index``, docs/design.md convention 14) keep momentum averages of the student and teacher
embeddings (momentum 0.5, as CRD's code).

Where we had to choose: instead of CRD's NCE estimate (Eq. 18-19, positives drawn from the
bank and a ``1/num_samples`` noise prior) we use the InfoNCE (softmax cross-entropy) form of
the same contrastive objective (van den Oord et al., "Representation Learning with Contrastive
Predictive Coding", 2018), which needs no noise prior: for the student anchor
``v^s_i = g_s(s_i)``,

``L_s = -mean_i log [ exp(<v^s_i, v^t_i>/tau) / (exp(<v^s_i, v^t_i>/tau) + sum_k exp(<v^s_i, m^t_k>/tau)) ]``

with the *current* teacher vector as positive and ``K`` random slots ``m^t_k`` of the teacher
bank as negatives (slots equal to the anchor's own index are masked out); ``L_t`` is the same
with roles swapped (teacher anchor vs student bank). ``L = L_s + L_t`` as in CRD's code.
Banks are updated after the loss, in training mode, from detached vectors.

Learnable: ``g_s`` and ``g_t`` (teacher features are detached; ``g_t`` still learns).
Shapes: embeddings ``(N, D_s)`` / ``(N, D_t)``, ``index`` ``(N,)`` int; returns terms
``student``, ``teacher``.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lrface.distill.losses.base import LOSSES, DistillLoss, StreamOut, Terms, finish, require
from lrface.distill.losses.memory import MomentumBank


def info_nce(anchor: Tensor, positive: Tensor, negatives: Tensor, mask: Tensor, tau: float) -> Tensor:
    """``anchor``/``positive`` ``(N, d)``, ``negatives`` ``(N, K, d)``, ``mask`` ``(N, K)`` True
    = not a negative; all unit vectors. Mean of ``-log softmax`` of the positive."""
    pos = (anchor * positive).sum(1, keepdim=True)
    neg = torch.einsum("nd,nkd->nk", anchor, negatives).masked_fill(mask, float("-inf"))
    logits = torch.cat([pos, neg], dim=1) / tau
    return -F.log_softmax(logits, dim=1)[:, 0].mean()


@LOSSES.register("crd")
class CRDLoss(DistillLoss):
    """Args:
        student_dim / teacher_dim: D_s / D_t (from the context).
        num_samples: dataset size = bank slots (from the context).
        feat_dim: embed-head output size (128).
        num_negatives: K (16384, capped to ``num_samples``).
        temperature: tau (0.07).
        momentum: bank momentum (0.5).
    """

    context_args = {"student_dim": "student_dim", "teacher_dim": "teacher_dim", "num_samples": "num_samples"}

    def __init__(self, student_dim: int, teacher_dim: int, num_samples: int, feat_dim: int = 128,
                 num_negatives: int = 16384, temperature: float = 0.07, momentum: float = 0.5) -> None:
        super().__init__()
        self.embed_s = nn.Linear(student_dim, feat_dim)
        self.embed_t = nn.Linear(teacher_dim, feat_dim)
        self.bank_s = MomentumBank(num_samples, feat_dim, momentum)
        self.bank_t = MomentumBank(num_samples, feat_dim, momentum)
        self.num_negatives = max(1, min(int(num_negatives), int(num_samples)))
        self.temperature = float(temperature)

    def forward(self, student: StreamOut, teacher: StreamOut, assistant: Optional[StreamOut] = None,
                labels: Optional[Tensor] = None, index: Optional[Tensor] = None) -> Tuple[Tensor, Terms]:
        index = require(index, "index", "crd")
        vs = F.normalize(self.embed_s(student.embedding), dim=1)
        vt = F.normalize(self.embed_t(teacher.embedding.detach()), dim=1)
        n, k = vs.shape[0], self.num_negatives
        neg_t, mask_t = self.bank_t.sample(n, k, index)
        neg_s, mask_s = self.bank_s.sample(n, k, index)
        terms = {"student": info_nce(vs, vt, neg_t, mask_t, self.temperature),
                 "teacher": info_nce(vt, vs, neg_s, mask_s, self.temperature)}
        if self.training:
            self.bank_s.update(index, vs)
            self.bank_t.update(index, vt)
        return finish(terms)
