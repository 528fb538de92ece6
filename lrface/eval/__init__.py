"""Evaluation: pure metrics (:mod:`lrface.eval.metrics`) and dataset protocols
(:mod:`lrface.eval.protocols`).

This package never imports :mod:`lrface.models` or :mod:`lrface.distill`: a protocol
receives an embedding function from its caller. Importing it does no I/O.

Example:
    >>> from lrface.eval import metrics
    >>> metrics.rate_key(1e-3)
    '1e-3'
"""
from __future__ import annotations

from lrface.eval import metrics  # noqa: F401  (cheap: numpy only)

__all__ = ["metrics"]
