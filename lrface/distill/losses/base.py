"""The common interface of distillation losses: stream outputs, sizing context, base class.

Every loss takes the same call, so a trainer never special-cases one::

    total, terms = loss(student, teacher, assistant=None, labels=None, index=None)

``student``/``teacher``/``assistant`` are :class:`StreamOut` records (what one network
produced for the batch); ``labels`` are identity labels ``(N,)`` (``-1`` = unlabelled);
``index`` are dataset sample indices ``(N,)`` (docs/design.md, convention 14) that key memory banks.
``total`` is a scalar tensor and ``terms`` maps a term name to its *detached* value; the terms
of one loss sum to its total.

Teacher and assistant tensors are always detached inside the losses: a loss only trains the
student and its own parameters (projections, regressors, heads). To train the assistant
against the teacher, call a loss with ``student=assistant_stream`` and build it from
:meth:`LossContext.for_assistant`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from lrface.registry import Registry

Terms = Dict[str, Tensor]

#: name -> loss class (a :class:`DistillLoss` subclass)
LOSSES: Registry[Callable[..., "DistillLoss"]] = Registry("loss")


@dataclass
class StreamOut:
    """What one network produced for a batch.

    Attributes:
        embedding: ``(N, D)`` raw (not L2-normalised) embedding.
        taps: named feature maps ``(N, C, H, W)`` (e.g. ``"stage1"``.. ``"stage4"``), in the
            order the network produced them (shallow to deep); may be empty.
        logits: optional ``(N, K)`` class logits.
    """

    embedding: Tensor
    taps: Dict[str, Tensor] = field(default_factory=dict)
    logits: Optional[Tensor] = None


@dataclass
class LossContext:
    """Sizes the trainer knows, used by :func:`build_losses` to size adapters.

    Attributes:
        student_dim / teacher_dim / assistant_dim: embedding sizes D.
        student_taps / teacher_taps / assistant_taps: tap name -> channels C, for the 4-D taps
            only and in the order the network produces them (``"last"`` means the last one).
        num_samples: training-set size (memory banks of CRD/CRRCD are this long).
        num_classes: number of training identities (identity/margin losses).
        centroids: ``(K, teacher_dim)`` L2-normalised class centroids of the teacher's
            embeddings on the training set (logit KD).
        teacher_mean: ``(teacher_dim,)`` the mean raw teacher embedding on the training set
            (losses that compare embeddings relative to it, ``mimic`` with ``center``).
    """

    student_dim: Optional[int] = None
    teacher_dim: Optional[int] = None
    assistant_dim: Optional[int] = None
    student_taps: Dict[str, int] = field(default_factory=dict)
    teacher_taps: Dict[str, int] = field(default_factory=dict)
    assistant_taps: Dict[str, int] = field(default_factory=dict)
    num_samples: Optional[int] = None
    num_classes: Optional[int] = None
    centroids: Optional[Tensor] = None
    teacher_mean: Optional[Tensor] = None

    def for_assistant(self) -> "LossContext":
        """The context for training the assistant against the teacher (assistant as student)."""
        return replace(self, student_dim=self.assistant_dim, student_taps=dict(self.assistant_taps),
                       assistant_dim=None, assistant_taps={})


def resolve_tap(name: str, taps: Mapping[str, Any], who: str = "stream") -> str:
    """The tap key for ``name``; ``"last"`` is the last (deepest) tap in ``taps``' order."""
    if name == "last":
        keys = [k for k, v in taps.items() if not isinstance(v, Tensor) or v.dim() == 4]
        if not keys:
            raise KeyError(f"{who} has no 4-D taps, so tap 'last' is undefined")
        return keys[-1]
    if name not in taps:
        raise KeyError(f"{who} has no tap {name!r}; available: {', '.join(taps) or 'none'}")
    return name


def get_tap(stream: StreamOut, name: str, who: str = "stream") -> Tensor:
    """A tap of ``stream`` by name; ``"embedding"`` is the embedding, ``"last"`` the deepest map."""
    if name == "embedding":
        return stream.embedding
    return stream.taps[resolve_tap(name, stream.taps, who)]


def tap_channels(context: LossContext, role: str, name: str) -> Optional[int]:
    """Channels of tap ``name`` of ``role`` ("student"/"teacher"/"assistant") in ``context``."""
    if name == "embedding":
        return getattr(context, f"{role}_dim")
    taps = getattr(context, f"{role}_taps")
    return taps[resolve_tap(name, taps, f"context.{role}_taps")] if taps else None


def projection(in_dim: Optional[int], out_dim: Optional[int], force: bool = False) -> nn.Module:
    """A bias-free linear map ``in_dim -> out_dim`` when sizes differ (or ``force``), else identity."""
    if in_dim is None or out_dim is None or (in_dim == out_dim and not force):
        return nn.Identity()
    return nn.Linear(in_dim, out_dim, bias=False)


class DistillLoss(nn.Module):
    """Base class. Subclasses implement :meth:`forward` and may set ``context_args``.

    ``context_args`` maps constructor argument -> :class:`LossContext` attribute; the default
    :meth:`from_context` fills those arguments from the context unless given explicitly.
    """

    context_args: ClassVar[Dict[str, str]] = {}

    @classmethod
    def from_context(cls, context: Optional[LossContext] = None, **kwargs: Any) -> "DistillLoss":
        if context is not None:
            for arg, attr in cls.context_args.items():
                value = getattr(context, attr)
                if arg not in kwargs and value is not None:
                    kwargs[arg] = value
        return cls(**kwargs)

    def forward(  # noqa: D102  (documented per subclass)
        self,
        student: StreamOut,
        teacher: StreamOut,
        assistant: Optional[StreamOut] = None,
        labels: Optional[Tensor] = None,
        index: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Terms]:
        raise NotImplementedError


def finish(terms: Dict[str, Tensor]) -> Tuple[Tensor, Terms]:
    """``(sum of terms, detached terms)``."""
    total = torch.stack(list(terms.values())).sum()
    return total, {k: v.detach() for k, v in terms.items()}


def require(value: Optional[Tensor], what: str, loss: str) -> Tensor:
    if value is None:
        raise ValueError(f"loss {loss!r} needs `{what}` (got None)")
    return value
