"""UCCS (UnConstrained College Students; Günther et al., "Unconstrained Face Detection and
Open-Set Face Recognition Challenge", IJCB 2017) in the layout of the 2024 watchlist
challenge (https://github.com/AIML-IfI/uccs-facerec-challenge).

Layout under ``root`` (as the challenge zip unpacks):

* ``gallery.csv``: ``FILE,SUBJECT_ID,REYE_X,REYE_Y,LEYE_X,LEYE_Y,NOSE_X,NOSE_Y,RMOUTH_X,
  RMOUTH_Y,LMOUTH_X,LMOUTH_Y`` (column names as read by the challenge's ``dataset.py``);
  images in ``gallery_images/`` (``FILE`` relative to it, or ``<SUBJECT_ID:04d>/FILE``).
  REYE is the subject's right eye, i.e. the one with the smaller x, matching lrface's
  landmark order (left-in-image eye first).
* ``validation.csv``: ``FILE,FACE_ID,SUBJECT_ID,FACE_X,FACE_Y,FACE_WIDTH,FACE_HEIGHT``;
  frames in ``validation_images/``. ``SUBJECT_ID`` <= 0 marks an unknown person (the
  challenge's evaluation counts only ``SUBJECT_ID > 0`` as known; the files use -1);
  lrface relabels all unknowns -1.
* optional ``exclude_gallery_validation.txt`` (one ``FACE_ID`` per line): validation faces
  that were cropped into the gallery, excluded from scoring as the challenge does.

Protocols here start from the ground-truth face boxes (no detector in the loop): each box
gets five pseudo-landmarks (:func:`lrface.eval.protocols.faces.box_landmarks`) and is warped
to 112x112. Gallery subjects are enrolled as the mean of their unit-norm image embeddings
(as the challenge baseline does).

* ``"uccs-watchlist"`` (open set): all validation faces are probes; rank-1 / rank-5 / CMC
  over known probes and the rank-1 detection and identification rate at FPIR 1e-1 / 1e-2
  (:func:`lrface.eval.identification.dir_at_far`). The challenge itself plots DIR against
  false positives *per image* and includes detector false alarms; with ground-truth boxes
  there are none, so we report the per-face FPIR of NIST FRVT instead.
* ``"uccs-closed"``: only known faces; top-1 / top-5 identification. LR papers (e.g. Ge et
  al., TIP 2019) use a closed-set UCCS subset of their own with 16x16 faces and a trained
  classifier; their numbers are not directly comparable to this gallery-matching variant.

Example:
    >>> UCCSWatchlist("/data/uccs").name
    'uccs-watchlist'
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from lrface.errors import DatasetLayoutError
from lrface.eval.identification import cmc, dir_at_far
from lrface.eval.protocols.base import PROTOCOLS, EmbedFn, Protocol, check_res_mode, l2_normalize, resolve_root
from lrface.eval.protocols.faces import load_box_faces, load_faces

LANDMARK_COLUMNS = ("REYE_X", "REYE_Y", "LEYE_X", "LEYE_Y", "NOSE_X", "NOSE_Y",
                    "RMOUTH_X", "RMOUTH_Y", "LMOUTH_X", "LMOUTH_Y")
GALLERY_COLUMNS = ("FILE", "SUBJECT_ID") + LANDMARK_COLUMNS
VALIDATION_COLUMNS = ("FILE", "FACE_ID", "SUBJECT_ID", "FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT")
UNKNOWN = -1


def _read_csv(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetLayoutError(f"UCCS: expected {path} (see docs/datasets.md)")
    df = pd.read_csv(path, dtype={"FILE": str})
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetLayoutError(f"UCCS: {path} lacks column(s) {missing}; expected {','.join(columns)}")
    return df


def _find(base: Path, file: str, extra: Sequence[Path] = ()) -> Optional[Path]:
    """First existing candidate for ``file`` (also trying .jpg/.png when it has no suffix)."""
    names = [file] if Path(file).suffix else [file, file + ".jpg", file + ".png"]
    for d in (base, *extra):
        for n in names:
            if (d / n).is_file():
                return d / n
    return None


class UCCSWatchlist(Protocol):
    """UCCS open-set watchlist identification from ground-truth boxes.

    Args:
        root: UCCS challenge folder (default ``<LRFACE_DATA>/uccs``).
        exclude: FACE_ID list file (default ``<root>/exclude_gallery_validation.txt`` if present).
        degrade: preset used to resize crops to ``res`` (default ``"area"``).
        fars: FPIRs at which DIR is reported.
        flip, seed, batch_size: see :class:`~lrface.eval.protocols.base.Protocol`.
        max_rank: length of the CMC curve.
    """

    name = "uccs-watchlist"
    dataset = "uccs"
    modes = ("hr-lr", "lr-lr", "hr-hr")
    open_set = True

    def __init__(
        self,
        root: Union[str, Path, None] = None,
        *,
        exclude: Union[str, Path, None] = None,
        degrade: str = "area",
        flip: bool = False,
        seed: int = 0,
        batch_size: int = 256,
        fars: Tuple[float, ...] = (1e-1, 1e-2),
        max_rank: int = 10,
    ) -> None:
        super().__init__(degrade=degrade, flip=flip, seed=seed, batch_size=batch_size)
        self.root = root
        self.exclude = exclude
        self.fars = tuple(fars)
        self.max_rank = int(max_rank)
        self._faces: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def check(self) -> Dict[str, Any]:
        """Read both CSVs and confirm every image exists.

        Returns:
            dict with ``gallery_paths``, ``gallery_points`` ((N, 5, 2)), ``gallery_labels``,
            ``groups`` (per frame: path and boxes), ``probe_labels`` (unknown = -1).

        Raises:
            DatasetLayoutError: missing files or columns (the message names what is expected).
        """
        root = resolve_root(self.root, "uccs")
        gal = _read_csv(root / "gallery.csv", GALLERY_COLUMNS)
        val = _read_csv(root / "validation.csv", VALIDATION_COLUMNS)
        gdir, vdir = root / "gallery_images", root / "validation_images"
        g_paths: List[Path] = []
        for f, sid in zip(gal["FILE"], gal["SUBJECT_ID"].astype(int)):
            p = _find(gdir, f, (gdir / f"{sid:04d}", root))
            if p is None:
                raise DatasetLayoutError(f"UCCS: gallery image {gdir / f} not found (nor under {gdir / f'{sid:04d}'})")
            g_paths.append(p)
        excl = self._excluded(root)
        if excl:
            val = val[~val["FACE_ID"].astype(int).isin(excl)]
        subj = val["SUBJECT_ID"].astype(int).to_numpy()
        labels = np.where(subj > 0, subj, UNKNOWN)
        groups: List[Tuple[Path, List[Tuple[float, ...]]]] = []
        order: List[int] = []
        boxes = val[["FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT"]].to_numpy(np.float64)
        for f, idx in val.groupby("FILE", sort=True).indices.items():
            p = _find(vdir, str(f), (root,))
            if p is None:
                raise DatasetLayoutError(f"UCCS: validation image {vdir / str(f)} not found")
            groups.append((p, [tuple(b) for b in boxes[idx]]))
            order.extend(int(i) for i in idx)
        return {
            "gallery_paths": g_paths,
            "gallery_points": gal[list(LANDMARK_COLUMNS)].to_numpy(np.float64).reshape(-1, 5, 2),
            "gallery_labels": gal["SUBJECT_ID"].astype(int).to_numpy(),
            "groups": groups,
            "probe_labels": labels[np.array(order, dtype=np.int64)],
        }

    def _excluded(self, root: Path) -> set:
        path = Path(self.exclude) if self.exclude is not None else root / "exclude_gallery_validation.txt"
        if not path.is_file():
            if self.exclude is not None:
                raise DatasetLayoutError(f"UCCS: exclude list {path} not found")
            return set()
        try:
            return {int(t) for t in path.read_text().split()}
        except (UnicodeDecodeError, ValueError):
            raise DatasetLayoutError(
                f"UCCS: {path} must be a text file with one FACE_ID per line "
                "(convert the challenge's list to text; pickles are not loaded for safety)"
            ) from None

    def _load(self, info: Dict[str, Any]) -> Tuple[np.ndarray, np.ndarray]:
        if self._faces is None:
            pts = {str(p): lm for p, lm in zip(info["gallery_paths"], info["gallery_points"])}
            gallery, _ = load_faces(info["gallery_paths"], points=pts)
            self._faces = (gallery, load_box_faces(info["groups"]))
        return self._faces

    def evaluate(self, embed_fn: EmbedFn, res: Optional[int] = None, mode: Optional[str] = None) -> Dict[str, Any]:
        """Run the protocol (``mode`` defaults to ``"hr-lr"`` with ``res``, else ``"hr-hr"``).

        Returns:
            Settings, ``n_gallery`` (subjects), ``n_known``, ``n_unknown``; ``rank1``,
            ``rank5``, ``cmc`` over known probes; open set also ``dir_at_far_1e-1``,
            ``dir_at_far_1e-2`` (when unknown probes exist).
        """
        mode = self.resolve_mode(mode, res)
        r = check_res_mode(res, mode, self.modes)
        info = self.check()
        gallery, probes = self._load(info)
        labels = info["probe_labels"]
        g_lab = info["gallery_labels"]
        ids = np.unique(g_lab)
        known = np.isin(labels, ids)
        keep = np.ones(len(labels), bool) if self.open_set else known
        if not known.any():
            raise DatasetLayoutError("UCCS: no validation face belongs to a gallery subject")
        g = self._embed(embed_fn, gallery, r if mode == "lr-lr" else None, keys=np.arange(len(gallery)))
        # Enrolment: one template per subject, the renormalised mean of its image embeddings.
        tmpl = l2_normalize(np.stack([g[g_lab == s].mean(axis=0) for s in ids]))
        pk = np.flatnonzero(keep)
        p = self._embed(embed_fn, probes[pk], None if mode == "hr-hr" else r, keys=len(gallery) + pk)
        sim = p.astype(np.float64) @ tmpl.T.astype(np.float64)
        lab = labels[pk]
        out = self._meta(mode, r)
        out.update(n_gallery=int(ids.size), n_known=int(known.sum()), n_unknown=int((~known[pk]).sum()))
        k = min(self.max_rank, ids.size)
        mated = np.isin(lab, ids)
        curve = cmc(sim[mated], lab[mated], ids, max_rank=k)
        out.update(rank1=float(curve[0]), rank5=float(curve[min(5, k) - 1]), cmc=curve.tolist())
        if self.open_set and (~mated).any():
            out.update(dir_at_far(sim, lab, ids, fars=self.fars))
        return out


@PROTOCOLS.register("uccs-closed")
class UCCSClosedSet(UCCSWatchlist):
    """UCCS closed-set identification: known validation faces only, top-1 / top-5."""

    name = "uccs-closed"
    open_set = False


PROTOCOLS.register("uccs-watchlist", obj=UCCSWatchlist)
