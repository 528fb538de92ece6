"""Distillation: teacher (HR, frozen) / assistant (HR, compact) / student (LR) streams and losses.

Public surface::

    lrface.distill.list_losses(pattern="*") -> list[str]
    lrface.distill.create_loss(name, context=None, **kwargs) -> DistillLoss
    lrface.distill.build_losses(spec, context) -> CompositeLoss
    lrface.distill.StreamOut, LossContext, DistillLoss, CompositeLoss, LOSSES

Every loss is called as ``loss(student, teacher, assistant=None, labels=None, index=None)``
and returns ``(total, {term: detached value})``; see :mod:`lrface.distill.losses.base`.
Nothing happens on import: loss modules register when first listed or built.
"""
from lrface.distill.losses import (LOSSES, CompositeLoss, DistillLoss, LossContext, StreamOut, build_losses,
                                   create_loss, list_losses)

__all__ = ["LOSSES", "CompositeLoss", "DistillLoss", "LossContext", "StreamOut", "build_losses", "create_loss",
           "list_losses"]
