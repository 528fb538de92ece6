"""Weighted sums of losses, built from a config dict, and the registry look-ups.

Example:
    >>> from lrface.distill import build_losses, LossContext
    >>> ctx = LossContext(student_dim=128, teacher_dim=512)
    >>> loss = build_losses({"rkd": {"weight": 1.0, "distance_weight": 25},
    ...                      "mimic": {"weight": 1.0, "kind": "cosine"}}, ctx)
    >>> sorted(loss.terms_of)
    ['mimic', 'rkd']
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Dict, List, Mapping, Optional, Tuple

from torch import Tensor, nn

from lrface.distill.losses.base import LOSSES, DistillLoss, LossContext, StreamOut, Terms
from lrface.errors import LrfaceError

_MODULES = ("mimic", "kd", "fitnet", "rkd", "sp", "crd", "askd", "horkd", "crrcd", "identity")


def _import_all() -> None:
    """Import the modules that register losses (lazy: nothing happens on package import)."""
    import importlib

    for mod in _MODULES:
        importlib.import_module(f"lrface.distill.losses.{mod}")


def list_losses(pattern: str = "*") -> List[str]:
    """Registered loss names matching a shell pattern, e.g. ``list_losses("*kd")``."""
    _import_all()
    return LOSSES.names(pattern)


class LossOptionError(LrfaceError, TypeError, ValueError):
    """A loss config names an option the loss does not take (a user error: one CLI line)."""


def _check_kwargs(name: str, cls: Any, kwargs: Mapping[str, Any]) -> None:
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # the class forwards extra options (e.g. to a margin head), which checks them
    known = [p for p in params if p != "self"]
    for key in kwargs:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise LossOptionError(f"loss {name!r}: unknown option {key!r}.{hint} Accepted: {', '.join(known)}")


def create_loss(name: str, context: Optional[LossContext] = None, **kwargs: Any) -> DistillLoss:
    """Build one registered loss; sizes not in ``kwargs`` come from ``context``.

    Raises:
        KeyError: unknown name (the message lists close matches).
        TypeError: an option the loss does not accept (named in the message).
    """
    _import_all()
    cls = LOSSES.get(name)
    _check_kwargs(name, cls, kwargs)
    return cls.from_context(context, **kwargs)


class CompositeLoss(nn.Module):
    """``sum_k weight_k * loss_k``; term ``t`` of loss ``k`` is logged as ``"k/t"``.

    Logged term values include the outer weight, so all ``"k/t"`` terms sum to the total,
    which is also logged as ``"total"``.

    Args:
        losses: name -> ``(weight, loss)``.
    """

    def __init__(self, losses: Mapping[str, Tuple[float, DistillLoss]]) -> None:
        super().__init__()
        self.weights: Dict[str, float] = {k: float(w) for k, (w, _) in losses.items()}
        self.terms_of = nn.ModuleDict({k: loss for k, (_, loss) in losses.items()})

    def forward(
        self,
        student: StreamOut,
        teacher: StreamOut,
        assistant: Optional[StreamOut] = None,
        labels: Optional[Tensor] = None,
        index: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Terms]:
        total = student.embedding.new_zeros(())
        terms: Terms = {}
        for name, loss in self.terms_of.items():
            w = self.weights[name]
            value, parts = loss(student, teacher, assistant, labels=labels, index=index)
            total = total + w * value
            for part, v in parts.items():
                terms[f"{name}/{part}"] = w * v
        terms["total"] = total.detach()
        return total, terms


def build_losses(spec: Mapping[str, Mapping[str, Any]], context: Optional[LossContext] = None) -> CompositeLoss:
    """Build a :class:`CompositeLoss` from a config dict.

    Each key is a registered loss name, or any label with a ``"loss"`` entry naming the loss
    (to use one loss twice, e.g. ``{"fitnet_s2": {"loss": "fitnet", "tap": "stage2"}}``).
    ``"weight"`` (default 1.0) is the outer weight; every other entry is a constructor option.

    Example: ``build_losses({"rkd": {"weight": 1.0}, "mimic": {"kind": "cosine"}}, ctx)``.
    """
    built: Dict[str, Tuple[float, DistillLoss]] = {}
    for label, cfg in spec.items():
        if cfg is None:
            cfg = {}
        if not isinstance(cfg, Mapping):
            raise TypeError(f"loss {label!r}: options must be a mapping, got {type(cfg).__name__}")
        kwargs = dict(cfg)
        weight = float(kwargs.pop("weight", 1.0))
        name = kwargs.pop("loss", label)
        built[label] = (weight, create_loss(name, context, **kwargs))
    return CompositeLoss(built)
