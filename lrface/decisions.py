"""Verification decisions: the calibrated threshold for a pair of faces.

Every shipped model's manifest entry holds cosine thresholds at false accept rates
:data:`FARS`, calibrated on all impostor pairs of held-out CelebA identities (never on LFW
View 2; ``benchmarks/train_zoo.py``), with flip-TTA as :func:`lrface.embed` does by default:

* ``thresholds``: both faces embedded by this model (for a one-size student, at its size;
  for the HR model, at full resolution);
* ``thresholds_hr``: this model's LR face against the HR model's full-resolution face;
* ``thresholds_by_res`` / ``thresholds_hr_by_res``: the same per face size, for a model that
  embeds faces of many sizes (the adapted LR model).

A pair uses the calibration of its harder face: for two LR faces the smaller one's model and
size (the worse face sets the score distribution); for an LR face against an HR face, the LR
model's ``hr`` table; for a size between calibrated sizes, the largest calibrated size not
above it (its threshold is the stricter of its neighbours' in practice, since thresholds fall as
faces shrink, see docs/results.md).

The calibration also stores thresholds on a denser grid of rates (:data:`FAR_GRID`), so every
score can be read as the false accept rate it corresponds to (:func:`pair_far`).

Example:
    >>> from lrface.models.weights import WeightsEntry
    >>> lr = WeightsEntry("lr", None, "x", None, {"kind": "lr",
    ...     "thresholds_by_res": {8: {"1e-3": 0.5}, 16: {"1e-3": 0.6}}})
    >>> pair_threshold(lr, lr, 1e-3, res_a=16, res_b=12)
    0.5
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch

from lrface.eval.metrics import rate_key

__all__ = ["FARS", "FAR_GRID", "pair_threshold", "thresholds_for", "pair_far"]

#: The false accept rates every shipped model has calibrated thresholds for (selectable in
#: ``verify``, ``Gallery.identify`` and the commands).
FARS = (1e-2, 1e-3, 1e-4)
#: The denser grid the calibration also stores, so a score can be read as a false accept rate
#: (:func:`pair_far`).
FAR_GRID = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5)


def _entry(x: Any) -> Any:
    return getattr(x, "weights", None) if isinstance(x, torch.nn.Module) else x


def _is_hr(entry: Any) -> bool:
    from lrface.models.zoo import is_hr

    return is_hr(entry)


def _at_res(table: Dict[Any, Dict[str, float]], res: Optional[int]) -> Optional[Dict[str, float]]:
    """The calibration of the largest calibrated size not above ``res`` (the smallest one when
    ``res`` is below them all or unknown)."""
    sizes = sorted(int(k) for k in table)
    if not sizes:
        return None
    below = [s for s in sizes if res is not None and s <= int(res)]
    key = below[-1] if below else sizes[0]
    return table.get(key, table.get(str(key)))


def thresholds_for(entry: Any, res: Optional[int] = None, against_hr: bool = False) -> Optional[Dict[str, float]]:
    """``{"1e-3": t, ...}`` for faces of ``res`` px embedded by ``entry``'s model, against the
    same model (or, ``against_hr``, against the HR model's full-resolution faces)."""
    meta = entry.meta
    by_res = meta.get("thresholds_hr_by_res" if against_hr else "thresholds_by_res")
    if by_res:
        return _at_res(by_res, res)
    table = meta.get("thresholds_hr" if against_hr else "thresholds")
    if table:
        return dict(table)
    t = meta.get("threshold")  # a single legacy threshold (treated as FAR 1e-3)
    return {"1e-3": float(t)} if t is not None and not against_hr else None


def _pair_table(a: Any, b: Any, res_a: Optional[int], res_b: Optional[int]) -> Optional[Dict[str, float]]:
    """The calibration table (FAR key -> threshold) of a pair, by the rules of the module doc."""
    ea, eb = _entry(a), _entry(b)
    if ea is None or eb is None:
        return None
    hr_a, hr_b = _is_hr(ea), _is_hr(eb)
    if hr_a and hr_b:
        return thresholds_for(ea)
    if hr_a or hr_b:
        lr, res = (eb, res_b) if hr_a else (ea, res_a)
        return thresholds_for(lr, res, against_hr=True)

    def size(e: Any, r: Optional[int]) -> int:
        return int(r) if r is not None else int((e.meta.get("default_for_res") or [999])[0])

    low, res = min(((ea, res_a), (eb, res_b)), key=lambda x: size(*x))
    return thresholds_for(low, size(low, res))


def pair_far(a: Any, b: Any, score: float, res_a: Optional[int] = None, res_b: Optional[int] = None) -> Optional[float]:
    """The false accept rate a pair's ``score`` corresponds to: the share of impostor pairs of
    the calibration set that score at least as high, interpolated (log FAR, linear in the
    score) between the calibrated operating points; below the loosest one it is "at least"
    that rate, above the strictest one "at most" that rate (the end values are returned).
    ``None`` without calibration."""
    import numpy as np

    table = _pair_table(a, b, res_a, res_b)
    if not table:
        return None
    pts = sorted((float(t), float(k)) for k, t in table.items())  # threshold rises as FAR falls
    ts = np.array([p[0] for p in pts])
    logf = np.log10([p[1] for p in pts])
    return float(10 ** np.interp(float(score), ts, logf))


def pair_threshold(a: Any, b: Any, far: float = 1e-3, res_a: Optional[int] = None,
                   res_b: Optional[int] = None) -> Optional[float]:
    """The calibrated threshold for a face embedded by ``a`` at ``res_a`` px against a face
    embedded by ``b`` at ``res_b`` px (models or manifest entries; ``res`` ``None`` for full
    resolution or unknown). ``None`` when there is no calibration for the pair."""
    t = (_pair_table(a, b, res_a, res_b) or {}).get(rate_key(far))
    return None if t is None else float(t)
