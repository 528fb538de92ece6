"""SCface: surveillance cameras vs mugshots (Grgic, Delac & Grgic, "SCface - surveillance
cameras face database", Multimedia Tools and Applications 51(3), 2011).

Closed-set identification: the gallery is one high-quality frontal mugshot per subject
(``mugshot_frontal_original_all/<ID>_frontal.jpg``); probes are the visible-light camera
images ``surveillance_cameras_all/<ID>_cam<C>_<D>.jpg`` (C = 1..5) at three distances
(D = 1: 4.20 m, 2: 2.60 m, 3: 1.00 m). Reported: rank-1, rank-5 and CMC per distance
(``d1`` is the farthest, smallest face) and over all probes.

Splits: ``"all"`` evaluates all 130 subjects (training-free methods); ``"50-80"`` the common
"50 subjects to fine-tune, 80 to test" split with a fixed choice: subjects 001-050 are
left for fine-tuning and 051-130 are the test gallery and probes. Papers often draw the
50/80 split at random, so their numbers are comparable with ours only approximately;
pass ``subjects=`` for any other split.

Alignment: from a landmark file when given (or ``<root>/landmarks.csv`` exists), else by
detection (MTCNN). Landmark CSV: a ``file`` column (image file name) plus either five
points (``x1,y1,...,x5,y5`` in lrface order, or the UCCS-style ``REYE_X, ..., LMOUTH_Y``)
or two eye centres (``reye_x,reye_y,leye_x,leye_y``; "right eye" = the subject's right,
the one with the smaller x). The eye coordinates distributed with SCface convert to the
last form.

``mode`` names the sizes handed to the model: ``hr`` = the 112x112 aligned crop,
``lr`` = that crop resized to ``res`` (default preset ``"area"``: a plain resize; the cameras
already degraded the probes). ``"hr-lr"``: mugshot at 112, probes at ``res``;
``"lr-lr"``: both at ``res``; ``"hr-hr"``: both at 112.

Example:
    >>> SCface("/data/scface", split="50-80").subjects[:2]
    (51, 52)
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from lrface.errors import DatasetLayoutError
from lrface.eval.identification import cmc
from lrface.eval.protocols.base import PROTOCOLS, EmbedFn, Protocol, check_res_mode, resolve_root
from lrface.eval.protocols.faces import Aligner, load_faces

MUGSHOT_DIR = "mugshot_frontal_original_all"
CAMERA_DIR = "surveillance_cameras_all"
SPLITS = {"all": tuple(range(1, 131)), "50-80": tuple(range(51, 131))}
_FIVE = [("x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4", "x5", "y5"),
         ("reye_x", "reye_y", "leye_x", "leye_y", "nose_x", "nose_y",
          "rmouth_x", "rmouth_y", "lmouth_x", "lmouth_y")]
_EYES = ("reye_x", "reye_y", "leye_x", "leye_y")


def mugshot_name(subject: int) -> str:
    """``"001_frontal.jpg"``."""
    return f"{subject:03d}_frontal.jpg"


def camera_name(subject: int, camera: int, distance: int) -> str:
    """``"001_cam1_1.jpg"``."""
    return f"{subject:03d}_cam{camera}_{distance}.jpg"


def read_landmarks(path: Path) -> Dict[str, np.ndarray]:
    """``{file name: (5, 2) or (2, 2) points}`` from a landmark CSV (see module docstring).

    Raises:
        DatasetLayoutError: no ``file`` column or no recognised coordinate columns.
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    cols = {c.strip().lower(): c for c in rows[0]}
    if "file" not in cols:
        raise DatasetLayoutError(f"{path}: needs a 'file' column, found {list(rows[0])}")
    names = next((n for n in _FIVE if all(c in cols for c in n)), None)
    if names is None and all(c in cols for c in _EYES):
        names = _EYES
    if names is None:
        raise DatasetLayoutError(
            f"{path}: expected columns x1,y1..x5,y5, REYE_X..LMOUTH_Y or reye_x,reye_y,leye_x,leye_y; "
            f"found {list(rows[0])}"
        )
    out = {}
    for r in rows:
        pts = np.array([float(r[cols[c]]) for c in names]).reshape(-1, 2)
        out[Path(r[cols["file"]].strip()).name] = pts
    return out


@PROTOCOLS.register("scface")
class SCface(Protocol):
    """SCface mugshot-gallery identification per distance.

    Args:
        root: SCface folder (default ``<LRFACE_DATA>/scface``).
        split: ``"all"`` (130 test subjects) or ``"50-80"`` (test on 051-130).
        subjects: explicit test subject ids (overrides ``split``).
        cameras: visible-light cameras to use as probes.
        landmarks: landmark CSV (default ``<root>/landmarks.csv`` when present).
        degrade: preset used to resize crops to ``res`` (default ``"area"``).
        flip, seed, batch_size: see :class:`~lrface.eval.protocols.base.Protocol`.
        aligner: for images without landmarks (default MTCNN).
        max_rank: length of the CMC curves.
    """

    name = "scface"
    dataset = "scface"
    modes = ("hr-lr", "lr-lr", "hr-hr")

    def __init__(
        self,
        root: Union[str, Path, None] = None,
        split: str = "all",
        *,
        subjects: Optional[Sequence[int]] = None,
        cameras: Sequence[int] = (1, 2, 3, 4, 5),
        landmarks: Union[str, Path, None] = None,
        degrade: str = "area",
        flip: bool = False,
        seed: int = 0,
        batch_size: int = 256,
        aligner: Optional[Aligner] = None,
        max_rank: int = 10,
    ) -> None:
        super().__init__(degrade=degrade, flip=flip, seed=seed, batch_size=batch_size)
        if subjects is None and split not in SPLITS:
            raise ValueError(f"unknown SCface split {split!r}; valid: {', '.join(SPLITS)} (or pass subjects=)")
        self.root = root
        self.split = split if subjects is None else "custom"
        self.subjects = tuple(sorted(int(s) for s in (SPLITS[split] if subjects is None else subjects)))
        if len(self.subjects) < 2 or min(self.subjects) < 1:
            raise ValueError(f"need at least two positive subject ids, got {self.subjects[:5]}")
        self.cameras = tuple(int(c) for c in cameras)
        self.landmarks = landmarks
        self.aligner = aligner
        self.max_rank = int(max_rank)
        self._faces: Optional[Tuple[np.ndarray, np.ndarray]] = None
        self.n_fallback = 0

    def check(self) -> Tuple[List[Path], List[Path], np.ndarray, Optional[Dict[str, np.ndarray]]]:
        """Confirm all files exist: ``(mugshots, probes, probe_table, landmarks)``.

        ``probe_table`` is (P, 3) int: subject, camera, distance of each probe.

        Raises:
            DatasetLayoutError: a folder or image is missing (the message names one).
        """
        root = resolve_root(self.root, "scface")
        for sub in (MUGSHOT_DIR, CAMERA_DIR):
            if not (root / sub).is_dir():
                raise DatasetLayoutError(f"SCface: expected folder {root / sub} (see docs/datasets.md)")
        mug = [root / MUGSHOT_DIR / mugshot_name(s) for s in self.subjects]
        table = np.array([(s, c, d) for s in self.subjects for c in self.cameras for d in (1, 2, 3)])
        probes = [root / CAMERA_DIR / camera_name(*row) for row in table]
        missing = [p for p in mug + probes if not p.is_file()]
        if missing:
            raise DatasetLayoutError(
                f"SCface: {len(missing)} of {len(mug) + len(probes)} images are missing, e.g. {missing[0]}; "
                f"expected {MUGSHOT_DIR}/<ID>_frontal.jpg and {CAMERA_DIR}/<ID>_cam<C>_<D>.jpg "
                f"for subjects {self.subjects[0]:03d}..{self.subjects[-1]:03d} (see docs/datasets.md)"
            )
        lm_path = Path(self.landmarks) if self.landmarks is not None else root / "landmarks.csv"
        if self.landmarks is not None and not lm_path.is_file():
            raise DatasetLayoutError(f"SCface: landmark file {lm_path} not found")
        points = read_landmarks(lm_path) if lm_path.is_file() else None
        return mug, probes, table, points

    def _load(self) -> Tuple[np.ndarray, np.ndarray]:
        if self._faces is None:
            mug, probes, _, points = self.check()
            by_path = None
            if points is not None:
                by_path = {str(p): points[p.name] for p in mug + probes if p.name in points}
            faces, self.n_fallback = load_faces(mug + probes, points=by_path, aligner=self.aligner)
            self._faces = (faces[: len(mug)], faces[len(mug):])
        return self._faces

    def evaluate(self, embed_fn: EmbedFn, res: Optional[int] = None, mode: Optional[str] = None) -> Dict[str, Any]:
        """Run the protocol.

        Args:
            embed_fn: ``embed_fn(faces, res) -> (N, D)``.
            res: side the crops are resized to for ``lr`` inputs.
            mode: ``"hr-lr"`` (default when ``res`` is set), ``"lr-lr"`` or ``"hr-hr"``
                (default without ``res``).

        Returns:
            Settings (including ``split``, ``n_gallery``, ``n_probes``,
            ``n_align_fallback``) and ``rank1``, ``rank5``, ``cmc`` over all probes plus
            ``rank1_d1`` ... ``rank1_d3``, ``rank5_d*``, ``cmc_d*`` per distance.
        """
        mode = self.resolve_mode(mode, res)
        r = check_res_mode(res, mode, self.modes)
        _, _, table, _ = self.check()
        gallery, probes = self._load()
        labels = np.array(self.subjects)
        g = self._embed(embed_fn, gallery, r if mode == "lr-lr" else None, keys=np.arange(len(gallery)))
        p = self._embed(embed_fn, probes, None if mode == "hr-hr" else r,
                        keys=len(gallery) + np.arange(len(probes)))
        sim = p.astype(np.float64) @ g.T
        k = min(self.max_rank, len(labels))
        out = self._meta(mode, r)
        out.update(split=self.split, n_gallery=len(labels), n_probes=len(probes),
                   n_align_fallback=self.n_fallback)
        for tag, sel in [("", np.ones(len(table), bool))] + [(f"_d{d}", table[:, 2] == d) for d in (1, 2, 3)]:
            curve = cmc(sim[sel], table[sel, 0], labels, max_rank=k)
            out[f"rank1{tag}"] = float(curve[0])
            out[f"rank5{tag}"] = float(curve[min(5, k) - 1])
            out[f"cmc{tag}"] = curve.tolist()
        return out
