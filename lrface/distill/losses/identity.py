"""Identity (margin softmax) loss on the student's embedding, as a distillation term.

``L = CE(head(s, y), y)`` over labelled samples (``y >= 0``; samples labelled ``-1``, e.g.
unlabelled faces, are ignored), with ``head`` one of :data:`lrface.models.heads.HEADS`:
ArcFace (Deng et al., CVPR 2019, Eq. 3-4: target logit ``s * cos(theta + m)``), CosFace,
SphereFace, the combined margin, AdaFace (Kim et al., CVPR 2022). A-SKD (Shin et al., ECCV
2022) pairs its attention loss with ArcFace at ``s = 32``; pass ``s=32.0`` for that.

Registered as ``identity`` (``head=`` chooses) and under each head's name, so a config can say
``{"arcface": {"weight": 1.0, "num_classes": K}}``. Extra options (``s``, ``m2``, ``m``, ...)
go to the head, which rejects unknown ones with a ``TypeError``.

Learnable: the head's class weights ``(K, D_s)``. Needs ``labels`` ``(N,)``.
Shapes: student embedding ``(N, D_s)`` raw; returns term ``ce``.
"""
from __future__ import annotations

from typing import ClassVar, Optional, Tuple

import torch.nn.functional as F
from torch import Tensor

from lrface.distill.losses.base import LOSSES, DistillLoss, StreamOut, Terms, finish, require
from lrface.models.heads import HEADS, create_head


@LOSSES.register("identity")
class IdentityLoss(DistillLoss):
    """Args:
        num_classes: K (from the context).
        embedding_size: D_s (from the context's ``student_dim``).
        head: a name in ``HEADS`` (``"arcface"``).
        **head_kwargs: options of that head (``s``, ``m1``, ``m2``, ``m3``, ``m``, ...).
    """

    context_args = {"num_classes": "num_classes", "embedding_size": "student_dim"}
    default_head: ClassVar[str] = "arcface"

    def __init__(self, num_classes: int, embedding_size: int, head: Optional[str] = None,
                 **head_kwargs: float) -> None:
        super().__init__()
        self.head_name = head or self.default_head
        self.head = create_head(self.head_name, embedding_size, num_classes, **head_kwargs)

    def forward(self, student: StreamOut, teacher: StreamOut, assistant: Optional[StreamOut] = None,
                labels: Optional[Tensor] = None, index: Optional[Tensor] = None) -> Tuple[Tensor, Terms]:
        labels = require(labels, "labels", "identity").to(student.embedding.device).long()
        keep = labels >= 0
        if not bool(keep.any()):
            return finish({"ce": student.embedding.sum() * 0.0})
        logits = self.head(student.embedding[keep], labels[keep])
        return finish({"ce": F.cross_entropy(logits, labels[keep])})


def _register_heads() -> None:
    for name in HEADS.names():
        if name not in LOSSES:
            cls = type(f"{name.capitalize()}IdentityLoss", (IdentityLoss,), {
                "default_head": name, "__module__": __name__,
                "__doc__": f"Identity loss with the {name!r} head (see :class:`IdentityLoss`)."})
            LOSSES.register(name, cls)


_register_heads()
