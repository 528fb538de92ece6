"""The three streams of a distillation step, as one module (so DDP syncs every gradient).

* teacher: frozen, sees the HR face; its outputs come from :class:`~lrface.distill.cache.TeacherCache`;
* assistant (optional): compact, sees the HR face, trained jointly against the teacher;
* student: compact, sees the LR face, trained against the teacher and the assistant
  ("look one and more", HORKD).

:class:`DistillStep` holds the trainable parts (student, assistant, the loss modules with
their projections and memory banks) and computes the total loss of a batch, so wrapping it
in ``DistributedDataParallel`` averages every trainable gradient across processes.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from lrface.distill.losses import CompositeLoss, LossContext, StreamOut
from lrface.models.base import FaceModel


def tap_channels(model: FaceModel) -> Dict[str, int]:
    """4-D tap name -> channels, shallow to deep, from the model's declared ``feature_info``
    (docs/design.md, convention 13: no dummy forward)."""
    info = getattr(model, "feature_info", None)
    if info is None:
        raise TypeError(f"{type(model).__name__} declares no feature_info; taps cannot be sized")
    out: Dict[str, int] = {}
    for f in info:
        name = f["name"] if isinstance(f, dict) else f.name
        chs = f["num_chs"] if isinstance(f, dict) else f.num_chs
        red = f.get("reduction") if isinstance(f, dict) else getattr(f, "reduction", None)
        if red is not None and name != "embedding":
            out[name] = int(chs)
    return out


def stream(model: nn.Module, x: Tensor, taps: bool) -> StreamOut:
    """Run ``model`` and package its outputs (4-D taps only when a loss needs them)."""
    if not taps:
        return StreamOut(embedding=model(x))
    feats = model.forward_features(x)
    return StreamOut(embedding=feats["embedding"], taps={k: v for k, v in feats.items() if v.dim() == 4})


class DistillStep(nn.Module):
    """Student (+ assistant) and their losses; ``forward`` returns ``(total, terms)``.

    Args:
        student: the LR network.
        student_losses: losses of the student against teacher (and assistant).
        assistant: the HR assistant, or ``None`` for two-stream distillation.
        assistant_losses: losses of the assistant against the teacher.
        taps: run ``forward_features`` (some loss compares feature maps).
    """

    def __init__(self, student: FaceModel, student_losses: CompositeLoss, assistant: Optional[FaceModel] = None,
                 assistant_losses: Optional[CompositeLoss] = None, taps: bool = False) -> None:
        super().__init__()
        self.student = student
        self.student_losses = student_losses
        self.assistant = assistant
        self.assistant_losses = assistant_losses
        self.taps = taps

    def forward(self, x_lr: Tensor, x_hr: Optional[Tensor], teacher: StreamOut, labels: Tensor,
                index: Tensor) -> Tuple[Tensor, Dict[str, Tensor]]:
        s = stream(self.student, x_lr, self.taps)
        a = stream(self.assistant, x_hr, self.taps) if self.assistant is not None and x_hr is not None else None
        total, terms = self.student_losses(s, teacher, a, labels=labels, index=index)
        terms = {f"s/{k}": v for k, v in terms.items()}
        if a is not None and self.assistant_losses is not None:
            a_total, a_terms = self.assistant_losses(a, teacher, None, labels=labels, index=index)
            total = total + a_total
            terms.update({f"a/{k}": v for k, v in a_terms.items()})
        terms["total"] = total.detach()
        return total, terms


def loss_context(student: FaceModel, teacher_dim: int, teacher_taps: Dict[str, int], assistant: Optional[FaceModel],
                 num_samples: int, num_classes: int, centroids: Optional[Tensor],
                 teacher_mean: Optional[Tensor] = None) -> LossContext:
    """What the losses need to size adapters and banks, from declared metadata only."""
    return LossContext(
        student_dim=student.embedding_size, teacher_dim=teacher_dim,
        assistant_dim=assistant.embedding_size if assistant is not None else None,
        student_taps=tap_channels(student), teacher_taps=dict(teacher_taps),
        assistant_taps=tap_channels(assistant) if assistant is not None else {},
        num_samples=num_samples, num_classes=num_classes, centroids=centroids, teacher_mean=teacher_mean,
    )


def needs_taps(spec: Dict) -> bool:
    """Does any loss of a config compare feature maps (fitnet, askd, sp/horkd on a tap)?"""
    for label, opts in spec.items():
        opts = opts or {}
        name = opts.get("loss", label)
        if name in ("fitnet", "askd"):
            return True
        if any(k in opts for k in ("tap", "teacher_tap", "taps")) and opts.get("tap", "embedding") != "embedding":
            return True
    return False


@torch.no_grad()
def teacher_stream(emb: Tensor, taps: Optional[Dict[str, Tensor]] = None) -> StreamOut:
    return StreamOut(embedding=emb, taps=dict(taps or {}))
