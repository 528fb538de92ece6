"""A *simulated* surveillance identification protocol on LFW (an lrface construction, not a
published benchmark; its numbers are comparable only with themselves).

Gallery: one full-resolution image per identity, for every identity with at least two
images (the lowest-numbered image, e.g. ``Name_0001.jpg``). Probes: all other images of
those identities, degraded with the ``"surveillance"`` preset of
:func:`lrface.face.degrade.degrade` (optical blur, sensor noise, JPEG) to face sizes that
stand for camera distances (32 / 20 / 12 px by default: near / middle / far, echoing
SCface's three distances). Metric: closed-set rank-1 and CMC per distance. All randomness
(per-image degradation draws, the optional identity subset) is seeded.

Each probe keeps the same degradation draws (blur sigma, noise, JPEG quality) at every
distance, as one camera would; only the sampling resolution changes.

Example:
    >>> p = LFWSurveillance("/data/lfw", distances=(24, 12))   # no I/O until evaluate()
    >>> p.distances
    (24, 12)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from lrface.errors import DatasetLayoutError
from lrface.eval.identification import cmc
from lrface.eval.protocols.base import PROTOCOLS, EmbedFn, Protocol, as_tuple, resolve_root
from lrface.eval.protocols.faces import Aligner, load_faces
from lrface.eval.protocols.lfw import image_dir


@PROTOCOLS.register("lfw-surveillance")
class LFWSurveillance(Protocol):
    """Simulated surveillance identification on LFW: HR gallery vs degraded probes.

    Args:
        root: LFW folder (default ``<LRFACE_DATA>/lfw``); images as for the LFW protocol.
        distances: probe face sizes in pixels, one result per size.
        degrade: degradation preset for probes (default ``"surveillance"``).
        seed: degradation and subset seed.
        max_identities: evaluate a seeded random subset of this many identities (None: all).
        max_rank: length of the reported CMC curves.
        flip, batch_size, aligner: as for :class:`~lrface.eval.protocols.lfw.LFWVerification`.
    """

    name = "lfw-surveillance"
    dataset = "lfw"
    modes = ("hr-lr",)  # a gallery of HR faces, probes at each distance

    def __init__(
        self,
        root: Union[str, Path, None] = None,
        distances: Sequence[int] = (32, 20, 12),
        *,
        degrade: str = "surveillance",
        flip: bool = False,
        seed: int = 0,
        batch_size: int = 256,
        max_identities: Optional[int] = None,
        max_rank: int = 10,
        aligner: Optional[Aligner] = None,
    ) -> None:
        super().__init__(degrade=degrade, flip=flip, seed=seed, batch_size=batch_size)
        self.root = root
        self.distances = as_tuple(distances)
        if not self.distances or min(self.distances) < 1:
            raise ValueError(f"distances must be positive pixel sizes, got {distances!r}")
        self.max_identities = max_identities
        self.max_rank = int(max_rank)
        self.aligner = aligner
        self._faces: Optional[np.ndarray] = None
        self._checked: Optional[Tuple[List[Path], np.ndarray, np.ndarray]] = None

    def check(self) -> Tuple[List[Path], np.ndarray, np.ndarray]:
        """List the images: ``(paths, labels, is_gallery)``, identities in sorted order.

        Raises:
            DatasetLayoutError: missing root, or no identity with two or more images.
        """
        if self._checked is not None:
            return self._checked
        root = resolve_root(self.root, "lfw")
        images = image_dir(root)
        people = []
        for d in sorted(p for p in images.iterdir() if p.is_dir()):
            files = sorted(f for f in d.glob("*.jpg") if f.is_file())
            if len(files) >= 2:
                people.append(files)
        if len(people) < 2:
            raise DatasetLayoutError(
                f"LFW surveillance protocol: found {len(people)} identities with >= 2 images under "
                f"{images}; expected {images}/<Name>/<Name>_NNNN.jpg (see docs/datasets.md)"
            )
        if self.max_identities is not None and self.max_identities < len(people):
            if self.max_identities < 2:
                raise ValueError(f"max_identities must be >= 2, got {self.max_identities}")
            keep = np.random.default_rng(self.seed).choice(len(people), self.max_identities, replace=False)
            people = [people[i] for i in sorted(keep)]
        paths = [f for files in people for f in files]
        labels = np.repeat(np.arange(len(people)), [len(f) for f in people])
        gallery = np.zeros(len(paths), bool)
        gallery[np.r_[0, np.cumsum([len(f) for f in people])[:-1]]] = True
        self._checked = (paths, labels, gallery)
        return self._checked

    def evaluate(self, embed_fn: EmbedFn, res: Union[int, Sequence[int], None] = None,
                 mode: Optional[str] = None) -> Dict[str, Any]:
        """Run the protocol at ``res`` (an int or several; default: the configured distances);
        ``mode`` can only be ``"hr-lr"`` (the default).

        Returns:
            Settings (``mode`` is ``"hr-lr"``; ``res`` the list of sizes), ``n_gallery``,
            ``n_probes``, and per size ``r``: ``rank1_{r}px``, ``rank5_{r}px``,
            ``cmc_{r}px`` (list, length ``max_rank``). With a single size, also plain
            ``rank1``, ``rank5`` and ``cmc``.
        """
        self.resolve_mode(mode, res if res is not None else self.distances)
        sizes = self.distances if res is None else as_tuple(res)
        if not sizes or min(sizes) < 1:
            raise ValueError(f"res must be positive pixel sizes, got {res!r}")
        paths, labels, gallery = self.check()
        if self._faces is None:
            self._faces, _ = load_faces(paths, aligner=self.aligner)
        g_idx, p_idx = np.flatnonzero(gallery), np.flatnonzero(~gallery)
        g = self._embed(embed_fn, self._faces[g_idx], None)
        out = self._meta("hr-lr", list(sizes))
        out.update(n_gallery=int(g_idx.size), n_probes=int(p_idx.size))
        k = min(self.max_rank, g_idx.size)
        for r in sizes:
            p = self._embed(embed_fn, self._faces[p_idx], r, keys=p_idx)
            curve = cmc(p.astype(np.float64) @ g.T, labels[p_idx], labels[g_idx], max_rank=k)
            out[f"rank1_{r}px"] = float(curve[0])
            out[f"rank5_{r}px"] = float(curve[min(5, k) - 1])
            out[f"cmc_{r}px"] = curve.tolist()
        if len(sizes) == 1:
            r = sizes[0]
            out.update(rank1=out[f"rank1_{r}px"], rank5=out[f"rank5_{r}px"], cmc=out[f"cmc_{r}px"], res=r)
        return out
