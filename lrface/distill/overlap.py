"""Identity-overlap guard: never train on people the evaluation set tests.

CelebA, Pins and LFW are all photos of public figures, so a training identity may also be an
LFW identity; an LFW figure measured after training on the same person is not a
low-resolution recognition result. Before training, two rules exclude training identities:

1. **By name** (where names exist, e.g. Pins folders): a training folder whose normalised
   name (lower case, runs of non-letters as ``_``) equals an evaluation identity's.
2. **By teacher-embedding centroid** (for anonymous identities such as CelebA's numbers):
   each identity's centroid is the normalised mean of its faces' normalised flip-sum teacher
   embeddings; a training identity whose centroid has cosine similarity >= ``threshold``
   with any evaluation identity's centroid is excluded. Centroids of the same person from
   different photos agree far more than single images do, so a threshold well above the
   single-image verification threshold (about 0.3 for the y1 teacher) still catches them.

The run records what was excluded, why, and the threshold (``overlap.json`` in the run
folder); ``docs/training.md`` explains how to read it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np


def normalise_name(name: str) -> str:
    """``"pins/Tom Cruise"`` -> ``"tom_cruise"`` (the last path part, case and separators folded)."""
    last = name.rsplit("/", 1)[-1]
    return re.sub(r"[^a-z]+", "_", last.lower()).strip("_")


def unit_rows(emb: np.ndarray) -> np.ndarray:
    """Rows of ``emb`` ``(N, 2, D)`` (two views, summed) or ``(N, D)``, L2-normalised, float64."""
    e = np.asarray(emb, np.float64)
    if e.ndim == 3:
        e = e.sum(axis=1)  # flip-sum
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def centroids(emb: np.ndarray, labels: np.ndarray, center: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Per-label unit centroids of ``emb`` ``(N, 2, D)`` (two views) or ``(N, D)``.

    ``center``: a vector subtracted from every unit embedding first (then renormalised). A
    model whose embeddings all lie in a narrow cone (dlib's: cosine about 0.9 between any two
    faces) needs it for centroid cosines to tell people apart.

    Returns ``(labels_present, centroids (K, D))``; labels < 0 are ignored.
    """
    e = unit_rows(emb)
    if center is not None:
        e = unit_rows(e - np.asarray(center, np.float64))
    lab = np.asarray(labels)
    ok = lab >= 0
    uniq, inv = np.unique(lab[ok], return_inverse=True)
    c = np.zeros((len(uniq), e.shape[1]))
    np.add.at(c, inv, e[ok])
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return uniq, c


@dataclass
class OverlapReport:
    """What the guard excluded (written as ``overlap.json``)."""

    dataset: str
    threshold: float
    train_identities: int
    by_name: List[str] = field(default_factory=list)
    by_centroid: List[Dict[str, Any]] = field(default_factory=list)  # {identity, match, cosine}
    excluded_faces: int = 0
    max_cosine_kept: float = float("nan")

    def as_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)

    def summary(self) -> str:
        return (f"overlap guard vs {self.dataset}: excluded {len(self.by_name)} identities by name and "
                f"{len(self.by_centroid)} by centroid cosine >= {self.threshold} "
                f"({self.excluded_faces} faces); highest kept cosine {self.max_cosine_kept:.3f}")


def find_overlap(
    train_names: Sequence[str],
    train_centroids: np.ndarray,
    eval_names: Sequence[str],
    eval_centroids: np.ndarray,
    threshold: float,
    by_name: bool = True,
    dataset: str = "lfw",
) -> Tuple[np.ndarray, OverlapReport]:
    """Which training identities to exclude.

    Args:
        train_names: one name per training identity (e.g. ``"pins/Tom_Cruise"``).
        train_centroids: ``(K, D)`` unit centroids, row k for ``train_names[k]``.
        eval_names, eval_centroids: the same for the evaluation identities.
        threshold: centroid cosine at or above which an identity is excluded.
        by_name: also exclude on normalised-name equality.

    Returns:
        ``(excluded (K,) bool, report)``.
    """
    k = len(train_names)
    excluded = np.zeros(k, bool)
    report = OverlapReport(dataset=dataset, threshold=float(threshold), train_identities=k)
    if by_name:
        eval_set = {normalise_name(n) for n in eval_names}
        for i, n in enumerate(train_names):
            if normalise_name(n) in eval_set:
                excluded[i] = True
                report.by_name.append(n)
    if len(eval_centroids) and k:
        best = np.full(k, -1.0)
        arg = np.zeros(k, np.int64)
        for s in range(0, len(eval_centroids), 4096):  # (K, 4096) blocks keep memory small
            sims = train_centroids @ eval_centroids[s : s + 4096].T
            j = sims.argmax(axis=1)
            v = sims[np.arange(k), j]
            better = v > best
            best[better], arg[better] = v[better], j[better] + s
        for i in np.flatnonzero((best >= threshold) & ~excluded):
            excluded[i] = True
            report.by_centroid.append({"identity": train_names[i], "match": eval_names[arg[i]],
                                       "cosine": round(float(best[i]), 4)})
        kept = best[~excluded]
        report.max_cosine_kept = float(kept.max()) if kept.size else float("nan")
    return excluded, report
