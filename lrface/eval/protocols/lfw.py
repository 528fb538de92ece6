"""LFW verification (Huang et al., "Labeled Faces in the Wild", UMass TR 07-49, 2007),
at full and reduced resolution.

Protocol: the 6,000 pairs of ``pairs.txt`` (View 2; 10 folds of 300 genuine + 300 impostor
pairs), cosine similarity of unit-norm embeddings, 10-fold accuracy with the threshold chosen
on the 9 other folds (:func:`lrface.eval.metrics.kfold_verification`), plus TAR at
FAR 1e-1/1e-2/1e-3, ROC AUC and EER over all pairs. The View-1 list ``pairsDevTest.txt``
(1,000 pairs) can be used instead for development.

Cross-resolution modes (``res`` in pixels, degradation by :func:`lrface.face.degrade.degrade`):
``"lr-lr"`` both faces of a pair at ``res``; ``"hr-lr"`` the first face at 112 (gallery-like),
the second at ``res``; ``"hr-hr"`` both at 112 (``res`` ignored).

Layout (see docs/datasets.md): ``<root>/pairs.txt`` and images at
``<root>/images/<Name>/<Name>_NNNN.jpg`` (or ``<root>/<Name>/<Name>_NNNN.jpg``); 112x112
images are taken as aligned, others are detected and aligned on first use.

Example:
    >>> proto = LFWVerification("/data/lfw")          # stores settings only, no I/O
    >>> # proto.evaluate(embed_fn, res=16, mode="lr-lr")["accuracy"]
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from lrface.errors import DatasetLayoutError
from lrface.eval.metrics import eer, kfold_verification, roc_auc, tar_at_far
from lrface.eval.protocols.base import PROTOCOLS, EmbedFn, Protocol, check_res_mode, resolve_root
from lrface.eval.protocols.faces import Aligner, load_faces

ImageKey = Tuple[str, int]  # (person name, image number as in pairs.txt)


@dataclass(frozen=True)
class LFWPairs:
    """A parsed pair list.

    Attributes:
        first, second: the two images of each pair as ``(name, number)``.
        labels: (N,) bool, True for genuine (same person) pairs.
        folds: (N,) int fold id of each pair.
        n_folds: number of folds.
    """

    first: List[ImageKey]
    second: List[ImageKey]
    labels: np.ndarray
    folds: np.ndarray
    n_folds: int

    def __len__(self) -> int:
        return len(self.first)

    def images(self) -> List[ImageKey]:
        """Distinct images referenced by the pairs, sorted (the order of degradation keys)."""
        return sorted(set(self.first) | set(self.second))


def _int(tok: str, path: Path, lineno: int) -> int:
    try:
        v = int(tok)
    except ValueError:
        raise DatasetLayoutError(f"{path}:{lineno}: expected an image number, got {tok!r}") from None
    if v < 1:
        raise DatasetLayoutError(f"{path}:{lineno}: image numbers start at 1, got {v}")
    return v


def parse_pairs(path: Union[str, Path], default_folds: int = 10) -> LFWPairs:
    """Parse an LFW pair list.

    Accepted formats: ``pairs.txt`` (header ``<folds> <n>``, then per fold ``n`` genuine
    lines ``name n1 n2`` followed by ``n`` impostor lines ``name1 n1 name2 n2``), and the
    View-1 lists with a one-number header (``500``) or none. Without a two-number header
    there are no official folds: genuine pair ``i`` and impostor pair ``i`` go to fold
    ``i % default_folds`` (stratified, so every fold has both classes).

    Raises:
        DatasetLayoutError: missing file or a malformed line (the message names the line).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "pairs.txt")
        >>> _ = open(p, "w").write("2 1\\nA 1 2\\nA 1 B 1\\nC 1 2\\nC 2 D 3\\n")
        >>> pr = parse_pairs(p); pr.labels.tolist(), pr.folds.tolist(), pr.second[3]
        ([True, False, True, False], [0, 0, 1, 1], ('D', 3))
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f"LFW pair list not found: expected {path}")
    lines = [(i + 1, ln.split()) for i, ln in enumerate(path.read_text().splitlines())]
    lines = [(i, t) for i, t in lines if t]
    if not lines:
        raise DatasetLayoutError(f"{path} is empty")
    header: Optional[Tuple[int, int]] = None
    first_tok = lines[0][1]
    if len(first_tok) <= 2 and all(t.isdigit() for t in first_tok):
        if len(first_tok) == 2:
            header = (int(first_tok[0]), int(first_tok[1]))
        lines = lines[1:]
    a: List[ImageKey] = []
    b: List[ImageKey] = []
    lab: List[bool] = []
    for lineno, t in lines:
        if len(t) == 3:
            a.append((t[0], _int(t[1], path, lineno)))
            b.append((t[0], _int(t[2], path, lineno)))
            lab.append(True)
        elif len(t) == 4:
            a.append((t[0], _int(t[1], path, lineno)))
            b.append((t[2], _int(t[3], path, lineno)))
            lab.append(False)
        else:
            raise DatasetLayoutError(
                f"{path}:{lineno}: expected 'name n1 n2' or 'name1 n1 name2 n2', got {' '.join(t)!r}"
            )
    labels = np.array(lab, dtype=bool)
    if header is not None:
        n_folds, per = header
        if len(labels) != 2 * n_folds * per:
            raise DatasetLayoutError(
                f"{path}: header says {n_folds} folds x {2 * per} pairs = {2 * n_folds * per}, "
                f"found {len(labels)} pairs"
            )
        folds = np.arange(len(labels)) // (2 * per)
    else:
        n_folds = default_folds
        folds = np.empty(len(labels), np.int64)
        for cls in (True, False):
            idx = np.flatnonzero(labels == cls)
            folds[idx] = np.arange(idx.size) % n_folds
    return LFWPairs(a, b, labels, folds, int(n_folds))


def image_dir(root: Path) -> Path:
    """``<root>/images`` when it exists, else ``<root>`` (both layouts are accepted)."""
    return root / "images" if (root / "images").is_dir() else root


def image_path(images: Path, key: ImageKey) -> Path:
    """``<images>/<Name>/<Name>_NNNN.jpg`` (LFW's zero-padded 4-digit numbering)."""
    name, num = key
    return images / name / f"{name}_{num:04d}.jpg"


@PROTOCOLS.register("lfw")
class LFWVerification(Protocol):
    """LFW 10-fold verification at a chosen resolution and cross-resolution mode.

    Args:
        root: LFW folder (default ``<LRFACE_DATA>/lfw``).
        pairs: pair-list file name inside ``root`` (or a path): ``"pairs.txt"`` (View 2,
            the benchmark) or ``"pairsDevTest.txt"`` (View 1, development).
        degrade: degradation preset for LR faces (default ``"area"``: exact box averaging,
            cv2 INTER_AREA, as in the naive baseline of docs/results.md).
        flip: flip-TTA (embedding of the mirrored face added before normalising).
        seed: degradation seed (only matters for random presets such as ``"surveillance"``).
        batch_size: faces per ``embed_fn`` call.
        aligner: aligns images that are not 112x112 (default MTCNN).
        fars: FARs at which TAR is reported.

    Example:
        >>> LFWVerification("/data/lfw", flip=True).name
        'lfw'
    """

    name = "lfw"
    dataset = "lfw"
    modes = ("lr-lr", "hr-lr", "hr-hr")

    def __init__(
        self,
        root: Union[str, Path, None] = None,
        pairs: str = "pairs.txt",
        *,
        degrade: str = "area",
        flip: bool = False,
        seed: int = 0,
        batch_size: int = 256,
        aligner: Optional[Aligner] = None,
        fars: Tuple[float, ...] = (1e-1, 1e-2, 1e-3),
    ) -> None:
        super().__init__(degrade=degrade, flip=flip, seed=seed, batch_size=batch_size)
        self.root = root
        self.pairs = pairs
        self.aligner = aligner
        self.fars = tuple(fars)
        self._faces: Optional[np.ndarray] = None  # aligned HR faces, loaded on first evaluate
        self._checked: Optional[Tuple[LFWPairs, List[Path]]] = None
        self.n_fallback = 0

    def check(self) -> Tuple[LFWPairs, List[Path]]:
        """Parse the pair list and confirm every referenced image exists.

        Returns:
            ``(pairs, paths)`` with ``paths`` in :meth:`LFWPairs.images` order.

        Raises:
            DatasetLayoutError: missing root, pair list or images; the message names the
                expected path.
        """
        if self._checked is not None:
            return self._checked
        root = resolve_root(self.root, "lfw")
        pp = Path(self.pairs)
        pairs = parse_pairs(pp if pp.is_absolute() else root / pp)
        images = image_dir(root)
        paths = [image_path(images, k) for k in pairs.images()]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DatasetLayoutError(
                f"LFW: {len(missing)} of {len(paths)} images referenced by {pp.name} are missing, "
                f"e.g. {missing[0]}; expected <root>/images/<Name>/<Name>_NNNN.jpg or "
                f"<root>/<Name>/<Name>_NNNN.jpg (see docs/datasets.md; download_lfw() fetches LFW)"
            )
        self._checked = (pairs, paths)
        return self._checked

    def faces(self) -> np.ndarray:
        """Aligned (N, 112, 112, 3) HR faces of all referenced images (loaded once, cached)."""
        pairs, paths = self.check()
        if self._faces is None:
            self._faces, self.n_fallback = load_faces(paths, aligner=self.aligner)
        return self._faces

    def evaluate(self, embed_fn: EmbedFn, res: Optional[int] = None, mode: Optional[str] = None) -> Dict[str, Any]:
        """Run the protocol.

        Args:
            embed_fn: ``embed_fn(faces, res) -> (N, D)``; see :mod:`lrface.eval.protocols.base`.
            res: LR side in pixels (required unless ``mode == "hr-hr"``).
            mode: ``"lr-lr"`` (default with ``res``), ``"hr-lr"`` or ``"hr-hr"`` (default without).

        Returns:
            Settings (``dataset``, ``protocol``, ``mode``, ``res``, ``degrade``, ``flip``,
            ``seed``, ``pairs``, ``n_pairs``, ``n_align_fallback``) and metrics:
            ``accuracy``, ``accuracy_std``, ``threshold``, ``accuracies`` (per fold),
            ``tar_at_far_1e-1`` / ``1e-2`` / ``1e-3``, ``auc``, ``eer``, ``eer_threshold``.
        """
        mode = self.resolve_mode(mode, res)
        r = check_res_mode(res, mode, self.modes)
        pairs, _ = self.check()  # layout errors surface before any embedding work
        faces = self.faces()
        index = {k: i for i, k in enumerate(pairs.images())}
        ia = np.array([index[k] for k in pairs.first])
        ib = np.array([index[k] for k in pairs.second])
        # Embed each distinct image once per resolution it is needed at.
        need_hr = {"hr-hr": np.r_[ia, ib], "hr-lr": ia, "lr-lr": np.empty(0, int)}[mode]
        need_lr = {"hr-hr": np.empty(0, int), "hr-lr": ib, "lr-lr": np.r_[ia, ib]}[mode]
        emb: Dict[str, np.ndarray] = {}
        for side, need, rr in (("hr", need_hr, None), ("lr", need_lr, r)):
            idx = np.unique(need)
            if idx.size:
                e = self._embed(embed_fn, faces[idx], rr, keys=idx)
                full = np.zeros((len(faces), e.shape[1]), np.float32)
                full[idx] = e
                emb[side] = full
        ea = emb["hr"][ia] if mode != "lr-lr" else emb["lr"][ia]
        eb = emb["lr"][ib] if mode != "hr-hr" else emb["hr"][ib]
        if ea.shape[1] != eb.shape[1]:
            raise ValueError(f"HR and LR embeddings differ in size: {ea.shape[1]} vs {eb.shape[1]}")
        scores = np.sum(ea.astype(np.float64) * eb, axis=1)
        out = self._meta(mode, r)
        out.update(pairs=Path(self.pairs).name, n_pairs=len(pairs),
                   n_align_fallback=self.n_fallback)
        kf = kfold_verification(scores, pairs.labels, folds=pairs.folds)
        out.update(accuracy=kf["accuracy"], accuracy_std=kf["accuracy_std"],
                   threshold=kf["threshold"], accuracies=kf["accuracies"])
        out.update(tar_at_far(scores, pairs.labels, self.fars))
        e, t = eer(scores, pairs.labels)
        out.update(auc=roc_auc(scores, pairs.labels), eer=e, eer_threshold=t)
        # Raw pair scores for ROC plots; underscore keys are not written to result tables.
        out.update(_scores=scores, _labels=np.asarray(pairs.labels))
        return out
