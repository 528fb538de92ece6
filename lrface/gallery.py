"""1:N search over enrolled embeddings, and open-set decisions ("unknown").

A :class:`Gallery` holds unit-norm embeddings with a label each (and the model that embedded
each, which picks the calibrated threshold). ``search`` returns the top-``k`` labels and
cosines; ``identify`` decides: the best label if its score passes the threshold calibrated for
the chosen false accept rate for that pair of models and probe size, else ``"unknown"``.

Example:
    >>> import numpy as np
    >>> g = Gallery()
    >>> g.add(np.eye(3, dtype=np.float32), ["a", "b", "c"])
    >>> g.identify(np.array([[0.0, 1.0, 0.0]], np.float32), threshold=0.5)[0].label
    'b'
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["Gallery", "Identification"]


@dataclass(frozen=True)
class Identification:
    """:meth:`Gallery.identify`'s answer for one probe.

    Attributes:
        label: the best gallery label, or ``"unknown"`` when its score is below ``threshold``.
        best: the best gallery label whatever its score; ``score``: its cosine.
        threshold: the threshold used (``None``: none known, then ``label == best``).
        far: the false accept rate that threshold was calibrated for (``None`` when given).
        score_far: the false accept rate the best score corresponds to (one comparison; see
            :func:`lrface.decisions.pair_far`), ``None`` without calibration.
    """

    label: Any
    best: Any
    score: float
    threshold: Optional[float]
    far: Optional[float] = None
    score_far: Optional[float] = None

    @property
    def known(self) -> bool:
        return self.label != "unknown"


class Gallery:
    """1:N search over enrolled embeddings.

    Exact cosine search with numpy by default; with ``backend="faiss"`` (``pip install
    faiss-cpu``) an inner-product FAISS index, for galleries of millions.

    Example:
        >>> g = Gallery()
        >>> g.add(np.eye(3, dtype=np.float32), ["a", "b", "c"])
        >>> g.search(np.array([[0.0, 1.0, 0.0]], np.float32), k=1)[0][0]
        ('b', 1.0)
        >>> g.identify(np.array([[0.6, 0.8, 0.0]], np.float32), threshold=0.9)[0].label
        'unknown'
    """

    def __init__(self, backend: str = "numpy") -> None:
        if backend not in ("numpy", "faiss"):
            raise ValueError("backend must be 'numpy' or 'faiss'")
        self.backend = backend
        self._emb = np.zeros((0, 0), np.float32)
        self.labels: List[Any] = []
        self.models: List[str] = []  # the model that embedded each entry ("" when unknown)
        self._index = None

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, embeddings: np.ndarray, labels: Sequence[Any], models: Optional[Sequence[str]] = None) -> None:
        """Enrol embeddings (N, D) (normalised here) with one label each (and optionally the
        name of the model that embedded each, used to pick open-set thresholds).

        Raises:
            ValueError: not (N, D) with N labels, another embedding size than the gallery's,
                or rows with NaN / inf (a face that was not found: drop it before enrolling).
        """
        e = np.asarray(embeddings, np.float32)
        if e.ndim != 2 or len(e) != len(labels):
            raise ValueError(f"need (N, D) embeddings and N labels, got {e.shape} and {len(labels)}")
        if len(self) and e.shape[1] != self._emb.shape[1]:
            raise ValueError(f"embedding size {e.shape[1]} differs from the gallery's {self._emb.shape[1]}")
        bad = ~np.isfinite(e).all(axis=1)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} of {len(e)} embeddings have NaN or inf values (rows "
                             f"{', '.join(map(str, np.flatnonzero(bad)[:5]))}): faces not found; drop them first")
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        self._emb = e if not len(self) else np.concatenate([self._emb, e])
        self.labels.extend(labels)
        self.models.extend([str(m or "") for m in models] if models is not None else [""] * len(labels))
        self._index = None

    def enrol(self, images: Any, labels: Sequence[Any], **embed_kw: Any) -> None:
        """Embed ``images`` with :func:`lrface.embed` and add them (faces not found are skipped
        when ``on_no_face="nan"`` is passed)."""
        from lrface.api import embed

        e, info = embed(images, return_info=True, **embed_kw)
        ok = ~np.isnan(e).any(axis=1)
        self.add(e[ok], [x for x, k in zip(labels, ok) if k], [i.model for i, k in zip(info, ok) if k])

    def search(self, probes: np.ndarray, k: int = 5) -> List[List[Tuple[Any, float]]]:
        """Top-``k`` ``(label, cosine)`` per probe embedding, best first."""
        if not len(self):
            raise ValueError("the gallery is empty; add() embeddings first")
        p = np.asarray(probes, np.float32)
        p = p[None] if p.ndim == 1 else p
        if p.ndim != 2 or p.shape[1] != self._emb.shape[1]:
            raise ValueError(f"probe embeddings of shape {p.shape}: the gallery holds {self._emb.shape[1]}-D embeddings")
        if not np.isfinite(p).all():
            raise ValueError("probe embeddings have NaN or inf values (faces not found): drop them first")
        p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
        k = min(k, len(self))
        if self.backend == "faiss":
            scores, idx = self._faiss().search(p, k)
        else:
            sims = p @ self._emb.T
            idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            part = np.take_along_axis(sims, idx, 1)
            order = np.argsort(-part, axis=1, kind="stable")
            idx = np.take_along_axis(idx, order, 1)
            scores = np.take_along_axis(part, order, 1)
        return [[(self.labels[j], round(float(s), 6)) for j, s in zip(ri, rs)] for ri, rs in zip(idx, scores)]

    def identify(self, probes: np.ndarray, infos: Optional[Sequence[Any]] = None, far: float = 1e-3,
                 threshold: Optional[float] = None) -> List[Identification]:
        """Open-set decision per probe: the best label if its score passes the threshold, else
        ``"unknown"``.

        Args:
            probes: probe embeddings ``(N, D)`` (or one ``(D,)``).
            infos: the probes' :class:`lrface.FaceInfo` (from ``embed(..., return_info=True)``):
                with them the threshold is the one calibrated for ``far`` for the gallery
                entry's model against the probe's model at the probe's size.
            far: 1e-2, 1e-3 or 1e-4 (see :mod:`lrface.decisions`); it is the false accept rate
                of one comparison, so in a gallery of many people an unknown face passes it
                against someone more often: prefer 1e-4 for large galleries.
            threshold: a threshold of your own (overrides ``far``).
        """
        from lrface.decisions import FARS, pair_far, pair_threshold
        from lrface.models.weights import available_weights

        if threshold is None and far not in FARS:
            raise ValueError(f"far must be one of {', '.join(map(str, FARS))} (calibrated), got {far}")
        top = self.search(probes, k=1)
        if infos is not None and len(infos) != len(top):
            raise ValueError(f"{len(infos)} infos for {len(top)} probes")
        weights = available_weights() if infos is not None else {}
        index = {lab: i for i, lab in reversed(list(enumerate(self.labels)))}
        out = []
        for n, hits in enumerate(top):
            label, score = hits[0]
            t, f, sf = threshold, None, None
            if infos is not None:
                p = infos[n]
                pair = (weights.get(self.models[index[label]] if self.models else ""),
                        weights.get(getattr(p, "model", None)))
                sf = pair_far(*pair, score, None, getattr(p, "res", None))
                if t is None:
                    t = pair_threshold(*pair, far, None, getattr(p, "res", None))
                    f = far if t is not None else None
            out.append(Identification(label if t is None or score >= t else "unknown", label, score, t, f, sf))
        return out

    def _faiss(self):
        if self._index is None:
            try:
                import faiss  # optional extra
            except ImportError:
                raise ImportError("backend='faiss' needs `pip install faiss-cpu`") from None
            self._index = faiss.IndexFlatIP(self._emb.shape[1])
            self._index.add(self._emb)
        return self._index

    def save(self, path: Union[str, Path]) -> None:
        """Save embeddings and labels to an ``.npz`` (labels stored as strings)."""
        np.savez(path, embeddings=self._emb, labels=np.array([str(x) for x in self.labels]),
                 models=np.array(self.models))

    @classmethod
    def load(cls, path: Union[str, Path], backend: str = "numpy") -> "Gallery":
        data = np.load(path, allow_pickle=False)
        g = cls(backend)
        if "embeddings" not in data or "labels" not in data:
            raise ValueError(f"{path} is not a gallery file (needs 'embeddings' and 'labels'; lrface-embed's "
                             ".npz has 'paths': build a gallery from a folder G/<identity>/<image> instead)")
        g.add(data["embeddings"], [str(x) for x in data["labels"]],
              list(data["models"]) if "models" in data else None)
        return g
