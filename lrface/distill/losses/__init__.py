"""Distillation losses, one per file, all with the :class:`DistillLoss` interface.

Loss modules are imported (and registered) lazily by :func:`list_losses`,
:func:`create_loss` and :func:`build_losses`.
"""
from lrface.distill.losses.base import LOSSES, DistillLoss, LossContext, StreamOut, Terms
from lrface.distill.losses.composite import CompositeLoss, build_losses, create_loss, list_losses

__all__ = ["LOSSES", "DistillLoss", "LossContext", "StreamOut", "Terms", "CompositeLoss", "build_losses",
           "create_loss", "list_losses"]
