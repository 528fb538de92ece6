"""Identification metrics: closed-set CMC / rank-k and open-set DIR / FNIR.

Pure functions of a probe-by-gallery similarity matrix and label arrays (any comparable
label type: ints, strings). Conventions (Grother & Ngan, "Face Recognition Vendor Test
(FRVT) Part 2: Identification", NIST IR 8271, 2019; Phillips, Grother & Micheals,
"Evaluation Methods in Face Recognition", Handbook of Face Recognition, 2011):

* The gallery may hold several entries per identity; an identity's score is the **maximum**
  over its entries, so ranks count identities, not images (enrol one template per
  identity, e.g. a mean embedding, to use another fusion rule).
* Ties are counted **against** the probe: its rank is the number of identities scoring at
  least as high as the true one. A constant embedding therefore gets rank-1 = 0 (with more
  than one identity), never credit for a lucky tie.
* Open set: a probe is *mated* when its label is in the gallery and *non-mated*
  otherwise. At threshold ``t`` the false positive identification rate is
  ``FPIR(t) = #{non-mated probes whose top score >= t} / #non-mated`` and the rank-1
  detection and identification rate is ``DIR(t) = #{mated probes whose rank-1 identity is
  correct with score >= t} / #mated``; ``FNIR = 1 - DIR``. The FAR axis of a DIR curve is
  this FPIR.

Example:
    >>> import numpy as np
    >>> sim = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6]])
    >>> cmc(sim, np.array([0, 1, 1]), np.array([0, 1])).tolist()
    [0.6666666666666666, 1.0]
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple

import numpy as np

__all__ = ["identity_scores", "probe_ranks", "cmc", "rank_k", "dir_at_far", "fnir_at_fpir"]


def _key(rate: float) -> str:
    from lrface.eval.metrics import rate_key  # late import: metrics re-exports this module

    return rate_key(rate)


def identity_scores(similarity: np.ndarray, gallery_labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Collapse gallery entries to one score per identity (the max over its entries).

    Args:
        similarity: (P, G) probe-by-gallery similarities.
        gallery_labels: (G,) identity of each gallery entry.

    Returns:
        ``(ids, scores)``: (I,) sorted distinct identities and (P, I) float64 scores.

    Example:
        >>> ids, s = identity_scores(np.array([[0.1, 0.5, 0.3]]), np.array([7, 3, 7]))
        >>> ids.tolist(), s.tolist()
        ([3, 7], [[0.5, 0.3]])
    """
    sim = np.asarray(similarity, dtype=np.float64)
    g = np.asarray(gallery_labels)
    if sim.ndim != 2 or g.shape != (sim.shape[1],):
        raise ValueError(f"similarity must be (P, G) with G = len(gallery_labels), got {sim.shape} and {g.shape}")
    if sim.shape[0] == 0 or sim.shape[1] == 0:
        raise ValueError(f"need at least one probe and one gallery entry, got similarity {sim.shape}")
    if not np.isfinite(sim).all():
        raise ValueError("similarity contains NaN or inf")
    ids, inv = np.unique(g, return_inverse=True)
    if ids.size == g.size:
        order = np.argsort(inv)
        return ids, sim[:, order]
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.arange(ids.size))
    return ids, np.maximum.reduceat(sim[:, order], starts, axis=1)


def _mated(ids: np.ndarray, probe_labels: np.ndarray, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """(mated mask, column of the true identity; 0 for non-mated probes)."""
    p = np.asarray(probe_labels)
    if p.shape != (n,):
        raise ValueError(f"probe_labels must have shape ({n},), got {p.shape}")
    try:
        col = np.searchsorted(ids, p)
    except TypeError:
        raise ValueError("probe and gallery labels must be of comparable types") from None
    col = np.minimum(col, ids.size - 1)
    mated = ids[col] == p
    return mated, np.where(mated, col, 0)


def probe_ranks(similarity: np.ndarray, probe_labels: np.ndarray, gallery_labels: np.ndarray) -> np.ndarray:
    """Rank (1 = best) of each probe's true identity; 0 for probes with no mate in the gallery.

    Example:
        >>> probe_ranks(np.array([[0.2, 0.9], [0.5, 0.5]]), np.array([0, 0]), np.array([0, 1])).tolist()
        [2, 2]
    """
    ids, s = identity_scores(similarity, gallery_labels)
    mated, col = _mated(ids, probe_labels, s.shape[0])
    true = s[np.arange(s.shape[0]), col]
    ranks = np.sum(s >= true[:, None], axis=1)  # includes itself: ties count against the probe
    return np.where(mated, ranks, 0)


def cmc(
    similarity: np.ndarray,
    probe_labels: np.ndarray,
    gallery_labels: np.ndarray,
    max_rank: Optional[int] = None,
) -> np.ndarray:
    """Cumulative match characteristic of a closed-set identification experiment.

    ``cmc[k - 1]`` is the fraction of probes whose true identity is among the ``k``
    best-scoring gallery identities (ties counted against the probe).

    Args:
        similarity: (P, G) probe-by-gallery similarities.
        probe_labels: (P,) identities; every one must be in the gallery (closed set).
        gallery_labels: (G,) identities (several entries per identity allowed).
        max_rank: length of the curve; default the number of gallery identities.

    Returns:
        (max_rank,) float64, non-decreasing, ending at 1.0 when ``max_rank`` is the number
        of identities.

    Raises:
        ValueError: a probe identity is missing from the gallery (use :func:`dir_at_far`
            for open-set data), bad shapes, or non-finite similarities.

    Example:
        >>> cmc(np.array([[0.2, 0.9]]), np.array([0]), np.array([0, 1])).tolist()
        [0.0, 1.0]
    """
    ids, _ = identity_scores(similarity, gallery_labels)
    ranks = probe_ranks(similarity, probe_labels, gallery_labels)
    if (ranks == 0).any():
        missing = np.unique(np.asarray(probe_labels)[ranks == 0])[:5].tolist()
        raise ValueError(
            f"{int((ranks == 0).sum())} probe(s) have no mate in the gallery (e.g. {missing}); "
            "closed-set CMC needs every probe identity enrolled (see dir_at_far for open set)"
        )
    k = ids.size if max_rank is None else int(max_rank)
    if k < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    hits = np.bincount(np.minimum(ranks, k + 1), minlength=k + 2)[1 : k + 1]
    return np.cumsum(hits) / ranks.size


def rank_k(similarity: np.ndarray, probe_labels: np.ndarray, gallery_labels: np.ndarray, k: int = 1) -> float:
    """Rank-k identification rate (``cmc(...)[k - 1]``); rank-1 is the usual "accuracy".

    Example:
        >>> rank_k(np.array([[0.2, 0.9]]), np.array([0]), np.array([0, 1]), k=2)
        1.0
    """
    return float(cmc(similarity, probe_labels, gallery_labels, max_rank=k)[k - 1])


def _open_set(
    similarity: np.ndarray, probe_labels: np.ndarray, gallery_labels: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]:
    """(scores of correct rank-1 mated probes or -inf, sorted-descending non-mated top scores)."""
    ids, s = identity_scores(similarity, gallery_labels)
    mated, col = _mated(ids, probe_labels, s.shape[0])
    if not mated.any() or mated.all():
        raise ValueError(
            f"open-set metrics need both mated and non-mated probes, got {int(mated.sum())} mated "
            f"and {int((~mated).sum())} non-mated"
        )
    true = s[np.arange(s.shape[0]), col]
    rank1 = np.sum(s >= true[:, None], axis=1) == 1
    hit = np.where(rank1 & mated, true, -np.inf)[mated]
    nonmated_top = np.sort(s[~mated].max(axis=1))[::-1]
    return hit, nonmated_top


def dir_at_far(
    similarity: np.ndarray,
    probe_labels: np.ndarray,
    gallery_labels: np.ndarray,
    fars: Iterable[float] = (1e-1, 1e-2, 1e-3),
) -> Dict[str, float]:
    """Rank-1 detection and identification rate at fixed false alarm rates (open set).

    For each target ``far`` (an FPIR) the threshold is the lowest one at which at most
    ``floor(far * #non-mated)`` non-mated probes raise an alarm (top score above the
    threshold); DIR is the fraction of mated probes identified correctly at rank 1 with a
    score above it. ``far = 1`` gives the closed-set rank-1 rate over mated probes.

    Args:
        similarity: (P, G) probe-by-gallery similarities.
        probe_labels: (P,) identities; labels absent from the gallery (e.g. -1 for
            "unknown" in UCCS) make a probe non-mated.
        gallery_labels: (G,) identities.
        fars: target false positive identification rates in [0, 1].

    Returns:
        ``{"dir_at_far_1e-2": dir, ...}`` (keys from :func:`lrface.eval.metrics.rate_key`).

    Example:
        >>> sim = np.array([[0.9, 0.1], [0.3, 0.6], [0.5, 0.2], [0.1, 0.4]])
        >>> dir_at_far(sim, np.array([0, 1, -1, -1]), np.array([0, 1]), fars=(0.5, 0.0))
        {'dir_at_far_5e-1': 1.0, 'dir_at_far_0e0': 1.0}
    """
    hit, nm = _open_set(similarity, probe_labels, gallery_labels)
    out: Dict[str, float] = {}
    for far in fars:
        if not 0.0 <= float(far) <= 1.0:
            raise ValueError(f"far must be in [0, 1], got {far}")
        allowed = int(np.floor(float(far) * nm.size + 1e-9))
        # Accept scores strictly above the (allowed + 1)-th highest non-mated score, so ties
        # with it never add an extra false alarm.
        thr = -np.inf if allowed >= nm.size else nm[allowed]
        out[f"dir_at_far_{_key(far)}"] = float(np.mean(hit > thr))
    return out


def fnir_at_fpir(
    similarity: np.ndarray,
    probe_labels: np.ndarray,
    gallery_labels: np.ndarray,
    fpirs: Iterable[float] = (1e-1, 1e-2, 1e-3),
) -> Dict[str, float]:
    """False negative identification rate at fixed FPIR: ``1 - DIR`` (NIST FRVT's axis).

    Example:
        >>> sim = np.array([[0.9, 0.1], [0.3, 0.6], [0.5, 0.2], [0.1, 0.7]])
        >>> fnir_at_fpir(sim, np.array([0, 1, -1, -1]), np.array([0, 1]), fpirs=(0.0,))
        {'fnir_at_fpir_0e0': 0.5}
    """
    d = dir_at_far(similarity, probe_labels, gallery_labels, fars=fpirs)
    return {k.replace("dir_at_far_", "fnir_at_fpir_"): 1.0 - v for k, v in d.items()}
