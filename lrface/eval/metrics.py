"""Pure evaluation metrics: numpy arrays in, numbers out.

Nothing here knows about datasets, models or files; protocols (which pairs, which folds,
which gallery) live in :mod:`lrface.eval.protocols`. Conventions used throughout:

* ``scores`` are similarities: larger means "more likely the same person" (cosine
  similarity of unit-norm embeddings in lrface). Pass ``-distance`` for distances.
* ``labels`` are 1 / ``True`` for genuine (mated) pairs and 0 / ``False`` for impostors.
* A pair is **accepted** (predicted genuine) when ``score >= threshold``.
* Rates are fractions in [0, 1], never percentages.

Verification metrics live in this module; closed- and open-set identification metrics
(CMC, rank-k, DIR at FAR, FNIR at FPIR) in :mod:`lrface.eval.identification` and are
re-exported here, so ``from lrface.eval.metrics import cmc`` works.

Example:
    >>> import numpy as np
    >>> s = np.array([0.9, 0.8, 0.3, 0.1]); y = np.array([1, 1, 0, 0])
    >>> roc_auc(s, y), eer(s, y)[0], best_threshold(s, y)
    (1.0, 0.0, (0.55, 1.0))
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from lrface.eval.identification import (  # noqa: F401  (re-exported)
    cmc,
    dir_at_far,
    fnir_at_fpir,
    rank_k,
)

__all__ = [
    "rate_key",
    "roc",
    "roc_auc",
    "tar_at_far",
    "eer",
    "best_threshold",
    "kfold_verification",
    "cmc",
    "rank_k",
    "dir_at_far",
    "fnir_at_fpir",
]


def rate_key(rate: float) -> str:
    """Compact, stable text for an operating point, used in result keys.

    Example:
        >>> rate_key(1e-3), rate_key(0.1), rate_key(2.5e-4)
        ('1e-3', '1e-1', '2.5e-4')
    """
    mant, exp = f"{float(rate):e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def _check(scores: np.ndarray, labels: np.ndarray, need_both: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Validate and return ``(float64 scores, bool labels)`` as 1-D arrays."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"scores and labels must be 1-D of equal length, got {s.shape} and {y.shape}")
    if s.size == 0:
        raise ValueError("scores is empty")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf")
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise ValueError("labels must be boolean or 0/1 (1 = genuine / same identity)")
        y = y.astype(bool)
    if need_both and (y.all() or not y.any()):
        raise ValueError("labels must contain both genuine (1) and impostor (0) pairs")
    return s, y


def roc(scores: np.ndarray, labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receiver operating characteristic at every distinct score.

    For threshold ``t``: ``FPR(t) = #{impostor >= t} / #impostor`` and
    ``TPR(t) = #{genuine >= t} / #genuine``. Thresholds are the distinct scores in
    decreasing order, preceded by ``+inf`` (the point (0, 0)); this equals
    ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)``.

    Args:
        scores: (N,) similarities.
        labels: (N,) 1 / True for genuine pairs.

    Returns:
        ``(fpr, tpr, thresholds)``, each (K + 1,) float64, fpr and tpr non-decreasing.

    Example:
        >>> fpr, tpr, thr = roc(np.array([0.9, 0.4, 0.6]), np.array([1, 1, 0]))
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 1.0, 1.0], [0.0, 0.5, 0.5, 1.0])
    """
    s, y = _check(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    # Last index of each run of equal scores: all pairs with that score change sides at once.
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last].astype(np.float64)
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return fpr, tpr, np.r_[np.inf, s[last]]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (trapezoidal rule over :func:`roc`).

    Equals the probability that a random genuine score exceeds a random impostor score,
    ties counting one half (Mann-Whitney U / (P N)); matches ``sklearn.metrics.roc_auc_score``.

    Example:
        >>> roc_auc(np.array([0.9, 0.4, 0.6]), np.array([1, 1, 0]))
        0.5
    """
    fpr, tpr, _ = roc(scores, labels)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def tar_at_far(
    scores: np.ndarray, labels: np.ndarray, fars: Iterable[float] = (1e-1, 1e-2, 1e-3)
) -> Dict[str, float]:
    """True accept rate at fixed false accept rates (one global threshold per FAR).

    For each target ``far`` the threshold is the lowest one whose number of accepted
    impostors is at most ``floor(far * #impostor)``; TAR is the fraction of genuine pairs
    accepted there. Note that a FAR below ``1 / #impostor`` (e.g. 1e-3 with LFW's 3,000
    impostor pairs is exactly 3 false accepts; 1e-4 would be 0) can only be measured as
    "no false accept at all".

    Args:
        scores: (N,) similarities.
        labels: (N,) 1 / True for genuine pairs.
        fars: target false accept rates in [0, 1].

    Returns:
        ``{"tar_at_far_1e-3": tar, ...}`` with keys from :func:`rate_key`.

    Example:
        >>> tar_at_far(np.array([0.9, 0.7, 0.8, 0.1]), np.array([1, 1, 0, 0]), fars=(0.5, 0.0))
        {'tar_at_far_5e-1': 1.0, 'tar_at_far_0e0': 0.5}
    """
    fpr, tpr, _ = roc(scores, labels)
    n_neg = int(np.sum(~_check(scores, labels)[1]))
    fps = np.rint(fpr * n_neg)  # integer false-accept counts along the curve
    out: Dict[str, float] = {}
    for far in fars:
        if not 0.0 <= float(far) <= 1.0:
            raise ValueError(f"far must be in [0, 1], got {far}")
        allowed = np.floor(float(far) * n_neg + 1e-9)  # tolerance: 0.001 * 3000 is 2.9999...
        out[f"tar_at_far_{rate_key(far)}"] = float(tpr[fps <= allowed].max())
    return out


def eer(scores: np.ndarray, labels: np.ndarray) -> Tuple[float, float]:
    """Equal error rate: where the false accept and false reject rates cross.

    ``FRR = 1 - TPR``. The crossing is linearly interpolated between the two ROC points that
    bracket it (the usual convention, e.g. bob.measure / pyeer), and so is the threshold.

    Returns:
        ``(eer, threshold)``.

    Example:
        >>> eer(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0]))
        (0.0, 0.8)
    """
    fpr, tpr, thr = roc(scores, labels)
    d = fpr - (1.0 - tpr)  # increasing along the curve; -1 at (0, 0) and +1 at (1, 1)
    i = int(np.argmax(d >= 0))  # first point at or past the crossing (i >= 1)
    t = d[i - 1] / (d[i - 1] - d[i])
    rate = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    # thr[0] is +inf: when the crossing starts from the origin, report the next threshold.
    threshold = thr[i] if not np.isfinite(thr[i - 1]) else thr[i - 1] + t * (thr[i] - thr[i - 1])
    return float(rate), float(threshold)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> Tuple[float, float]:
    """The threshold that maximises verification accuracy, computed exactly.

    Candidates are the midpoints between consecutive distinct scores, plus one value 1.0
    below the smallest score (accept everything) and 1.0 above the largest (reject
    everything): every possible partition of the sorted scores is tried once, in
    O(N log N), instead of scanning a fixed grid. Among equally accurate thresholds the
    lowest is returned.

    Returns:
        ``(threshold, accuracy)`` on these scores.

    Example:
        >>> best_threshold(np.array([0.9, 0.6, 0.4, 0.1]), np.array([1, 0, 1, 0]))
        (0.25, 0.75)
    """
    s, y = _check(scores, labels, need_both=False)
    u, inv = np.unique(s, return_inverse=True)
    pos = np.bincount(inv, weights=y.astype(np.float64), minlength=u.size)
    neg = np.bincount(inv, weights=(~y).astype(np.float64), minlength=u.size)
    # Candidate j accepts the distinct scores u[j:], so it gets the genuine pairs there
    # right and the impostors below u[j] right.
    cum_pos = np.r_[0.0, np.cumsum(pos)]
    cum_neg = np.r_[0.0, np.cumsum(neg)]
    correct = (cum_pos[-1] - cum_pos) + cum_neg
    j = int(np.argmax(correct))
    if j == 0:
        thr = u[0] - 1.0
    elif j == u.size:
        thr = u[-1] + 1.0
    else:
        mid = (u[j - 1] + u[j]) / 2.0
        # Adjacent doubles have no midpoint strictly between them; u[j] splits them the same way.
        thr = mid if u[j - 1] < mid else u[j]
    return float(thr), float(correct[j] / s.size)


def _fold_ids(n: int, folds: Union[int, np.ndarray], fold_ids: Optional[np.ndarray]) -> np.ndarray:
    if fold_ids is not None:
        if not (isinstance(folds, (int, np.integer)) and folds == 10):
            raise ValueError("give fold ids either as `folds` (an array) or as `fold_ids`, not both")
        folds = np.asarray(fold_ids)
    if isinstance(folds, (int, np.integer)) and not isinstance(folds, bool):
        k = int(folds)
        if not 2 <= k <= n:
            raise ValueError(f"folds must be between 2 and the number of pairs ({n}), got {k}")
        # Contiguous, equal-as-possible blocks in input order: LFW's pairs.txt stores each
        # fold as a consecutive block, as insightface's KFold(shuffle=False) assumes.
        return np.arange(n) * k // n
    ids = np.asarray(folds)
    if ids.shape != (n,):
        raise ValueError(f"fold ids must have shape ({n},), got {ids.shape}")
    return ids


def kfold_verification(
    scores: np.ndarray,
    labels: np.ndarray,
    folds: Union[int, np.ndarray] = 10,
    fold_ids: Optional[np.ndarray] = None,
) -> Dict[str, Union[float, List[float]]]:
    """LFW-style k-fold verification accuracy.

    For each fold, the accuracy-maximising threshold (:func:`best_threshold`) is chosen on
    the other folds and applied to the held-out fold; the result is the mean and standard
    deviation (population, ``ddof=0``, as insightface's ``verification.py``) of the k
    held-out accuracies. This is the "unrestricted, labeled outside data" protocol of
    Huang et al., "Labeled Faces in the Wild", UMass TR 07-49 (2007), with the threshold
    selection used by insightface.

    Args:
        scores: (N,) similarities.
        labels: (N,) 1 / True for genuine pairs.
        folds: number of contiguous folds in input order, or an (N,) array of fold ids.
        fold_ids: alternative way to pass an (N,) array of fold ids.

    Returns:
        dict with ``accuracy`` (mean), ``accuracy_std``, ``threshold`` (mean of the
        per-fold thresholds), ``thresholds_per_fold`` and ``accuracies`` (lists, fold order
        = sorted fold ids).

    Example:
        >>> s = np.array([0.9, 0.2, 0.8, 0.1, 0.7, 0.3, 0.95, 0.15])
        >>> r = kfold_verification(s, np.array([1, 0] * 4), folds=2)
        >>> r["accuracy"], r["accuracy_std"]
        (1.0, 0.0)
    """
    s, y = _check(scores, labels, need_both=False)
    ids = _fold_ids(s.size, folds, fold_ids)
    accs: List[float] = []
    thrs: List[float] = []
    for f in np.unique(ids):
        test = ids == f
        if test.all():
            raise ValueError("k-fold verification needs at least two distinct folds")
        thr, _ = best_threshold(s[~test], y[~test])
        accs.append(float(np.mean((s[test] >= thr) == y[test])))
        thrs.append(thr)
    return {
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "threshold": float(np.mean(thrs)),
        "thresholds_per_fold": thrs,
        "accuracies": accs,
    }
