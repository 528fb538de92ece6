"""Greedy non-maximum suppression, vectorised (numpy), with "union" and "min" overlap.

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates (``x2`` exclusive), so a box's
area is ``(x2 - x1) * (y2 - y1)``; degenerate boxes have zero area and overlap nothing.

Exact greedy NMS is sequential by nature (a box is suppressed only by boxes that are themselves
kept), but it can be computed without a Python loop over boxes: with boxes sorted by score,
``keep[j] = not any(keep[i] and overlap[i, j] > t for i < j)`` is a recursion over a DAG, and
Jacobi iteration of it from ``keep = all True`` reaches the unique fixed point in (longest
suppression chain + 1) steps, each one matrix-vector product. Chains are short in practice;
very large inputs fall back to the classic loop over kept boxes to bound memory.
"""
from __future__ import annotations

import numpy as np

#: Above this many boxes the n x n overlap matrix gets large; use the loop instead.
_MATRIX_MAX = 4096


def overlap_matrix(boxes: np.ndarray, mode: str = "union") -> np.ndarray:
    """Pairwise overlap of (N, 4) boxes: IoU (``"union"``) or intersection / smaller area (``"min"``)."""
    b = np.asarray(boxes, dtype=np.float64)
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    if mode == "union":
        denom = area[:, None] + area[None, :] - inter
    elif mode == "min":
        denom = np.minimum(area[:, None], area[None, :])
    else:
        raise ValueError(f"unknown NMS mode {mode!r}: use 'union' or 'min'")
    # 0/0 (two empty boxes) counts as no overlap rather than NaN.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, inter / np.where(denom > 0, denom, 1.0), 0.0)


def _nms_loop(b: np.ndarray, threshold: float, mode: str) -> np.ndarray:
    # Classic greedy NMS; only used for very large inputs. b is already score-sorted.
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    idx = np.arange(len(b))
    keep = []
    while idx.size:
        i = idx[0]
        keep.append(i)
        rest = idx[1:]
        iw = np.clip(np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]), 0, None)
        ih = np.clip(np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]), 0, None)
        inter = iw * ih
        denom = area[i] + area[rest] - inter if mode == "union" else np.minimum(area[i], area[rest])
        with np.errstate(divide="ignore", invalid="ignore"):
            ov = np.where(denom > 0, inter / np.where(denom > 0, denom, 1.0), 0.0)
        idx = rest[ov <= threshold]
    return np.asarray(keep, dtype=np.int64)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression.

    A box is dropped when its overlap with a higher-scoring kept box is *greater than*
    ``threshold``. Equal scores are broken by input order (earlier wins), so results are
    deterministic.

    Args:
        boxes: (N, 4) ``x1, y1, x2, y2``.
        scores: (N,) scores; higher is better.
        threshold: overlap above which the lower-scoring box is suppressed.
        mode: ``"union"`` (IoU) or ``"min"`` (intersection over the smaller box's area).

    Returns:
        (K,) int64 indices into ``boxes`` of the kept boxes, by descending score.

    Example:
        >>> b = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
        >>> nms(b, np.array([0.9, 0.8, 0.7]), 0.5).tolist()
        [0, 2]
    """
    if mode not in ("union", "min"):
        raise ValueError(f"unknown NMS mode {mode!r}: use 'union' or 'min'")
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(b) != len(s):
        raise ValueError(f"{len(b)} boxes but {len(s)} scores")
    n = len(b)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-s, kind="stable")
    b = b[order]
    if n > _MATRIX_MAX:
        return order[_nms_loop(b, threshold, mode)]
    # suppress[i, j]: i (higher score) would suppress j; strictly upper triangular (a DAG).
    suppress = np.triu(overlap_matrix(b, mode) > threshold, k=1)
    if not suppress.any():
        return order
    sup = suppress.astype(np.float32)
    keep = np.ones(n, dtype=bool)
    for _ in range(n + 1):
        new = (keep.astype(np.float32) @ sup) == 0
        if np.array_equal(new, keep):
            break
        keep = new
    return order[keep]


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, threshold: float, mode: str = "union"
) -> np.ndarray:
    """NMS applied independently within each group (e.g. image index).

    Returns:
        Kept indices into ``boxes``, sorted by group then descending score.
    """
    g = np.asarray(groups).reshape(-1)
    if len(g) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(g, kind="stable")
    starts = np.flatnonzero(np.r_[True, g[order][1:] != g[order][:-1]])
    ends = np.r_[starts[1:], len(g)]
    out = []
    for a, e in zip(starts, ends):
        sel = order[a:e]
        out.append(sel[nms(boxes[sel], scores[sel], threshold, mode)])
    return np.concatenate(out)
