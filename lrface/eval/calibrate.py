"""Verification thresholds at a chosen false accept rate, from held-out impostor pairs.

A shipped model's thresholds are calibrated on faces of the validation identities held out
from its training data (CelebA, never LFW View 2): every cross-identity pair of those faces is
an impostor pair (about 600,000 for 1,100 faces), so a FAR of 1e-3 rests on hundreds of
impostors above the threshold rather than on one or two.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> e = rng.normal(size=(200, 16))               # 200 faces of 200 identities
    >>> t = far_thresholds(e, e, np.arange(200), fars=(1e-2,))["1e-2"]
    >>> float((impostor_scores(e, e, np.arange(200)) >= t).mean()) <= 1e-2
    True
"""
from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

from lrface.eval.metrics import rate_key

__all__ = ["impostor_scores", "far_thresholds", "genuine_impostor"]


def _unit(e: np.ndarray) -> np.ndarray:
    e = np.asarray(e, np.float64)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def genuine_impostor(ea: np.ndarray, eb: np.ndarray, labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Scores of all genuine and all impostor pairs between two embeddings of the same faces.

    ``ea[i]`` and ``eb[i]`` embed face ``i`` (e.g. by the HR model and by a student); a pair
    ``(i, j)``, ``i != j``, scores ``ea[i] . eb[j]``. Both orders are kept when ``ea`` and
    ``eb`` differ (an HR-LR pair is not symmetric); with ``ea is eb`` each pair counts once.
    """
    a, b = _unit(ea), _unit(eb)
    lab = np.asarray(labels)
    s = a @ b.T
    same = lab[:, None] == lab[None, :]
    off = ~np.eye(len(lab), dtype=bool)
    if ea is eb:
        off &= np.triu(np.ones_like(off), 1)
    return s[same & off], s[~same & off]


def impostor_scores(ea: np.ndarray, eb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Scores of every impostor pair (see :func:`genuine_impostor`)."""
    return genuine_impostor(ea, eb, labels)[1]


def far_thresholds(ea: np.ndarray, eb: np.ndarray, labels: np.ndarray,
                   fars: Sequence[float] = (1e-2, 1e-3)) -> Dict[str, float]:
    """``{"1e-3": t, ...}``: the smallest cosine threshold whose impostor accept rate is <= FAR.

    A pair is accepted when ``score >= t``; ``t`` is set just above the impostor score at
    rank ``floor(FAR * n) + 1`` from the top, so at most ``FAR * n`` impostors pass.
    """
    imp = np.sort(impostor_scores(ea, eb, labels))[::-1]
    if not len(imp):
        raise ValueError("no impostor pairs: calibration needs faces of at least 2 identities")
    out: Dict[str, float] = {}
    for far in fars:
        if not 0 < far < 1:
            raise ValueError(f"FAR must be in (0, 1), got {far}")
        k = int(np.floor(far * len(imp)))
        if k < 1:
            raise ValueError(f"{len(imp)} impostor pairs cannot calibrate FAR {far} (need >= {int(np.ceil(1 / far))})")
        out[rate_key(far)] = float(np.nextafter(imp[k], np.inf))  # k < n since far < 1
    return out
