"""``lrface.embed()`` with all defaults on photos with small faces: found, model chosen, accuracy.

Each LFW image (the aligned 112x112 crop) is shrunk so that its 112 px frame, and so the face,
is ``s`` px across (area), and pasted at a seeded random position into a larger grey, noisy
background (``4 s`` px but at least 160 px wide, so the detector sees a small face in a
photo). Then ``lrface.embed(photos, flip=True, on_no_face="nan", return_info=True)`` runs
with no model, no res and ``align=True``: MTCNN (enlarging the photo when the face is small),
alignment, the face size measured from the landmarks, the shipped model chosen by it.

Reported per size: the share of faces found, the models chosen (counts), the measured face
size (median), and LFW 10-fold accuracy over the pairs of the chosen folds; a pair with a
face not found scores -1 (always "different"), so misses count against accuracy.

Usage::

    python benchmarks/photo_sizes.py --sizes 16 24 48 --folds 1 2 3 --out benchmarks/results/photo_sizes.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import cv2
import numpy as np


def make_photo(face: np.ndarray, s: int, seed: int) -> np.ndarray:
    """The 112 px aligned face shrunk to ``s`` px, pasted into a noisy grey background."""
    rng = np.random.default_rng(seed)
    small = cv2.resize(face, (s, s), interpolation=cv2.INTER_AREA)
    side = max(160, 4 * s)
    bg = np.clip(rng.normal(110, 12, (side, side, 3)), 0, 255).astype(np.uint8)
    bg = cv2.GaussianBlur(bg, (0, 0), 1.5)
    y, x = rng.integers(0, side - s, size=2)
    bg[y : y + s, x : x + s] = small
    return bg


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 24, 48])
    p.add_argument("--folds", type=int, nargs="+", help="LFW View-2 folds to use (1-10; default all)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    import lrface
    from lrface.eval.metrics import kfold_verification
    from lrface.eval.protocols.lfw import LFWVerification
    from lrface.provenance import provenance

    proto = LFWVerification()
    pairs, _ = proto.check()
    faces = proto.faces()
    index = {k: i for i, k in enumerate(pairs.images())}
    sel = np.isin(pairs.folds, np.array(args.folds) - 1) if args.folds else np.ones(len(pairs), bool)
    ia = np.array([index[k] for k in pairs.first])[sel]
    ib = np.array([index[k] for k in pairs.second])[sel]
    labels = pairs.labels.astype(int)[sel]
    folds = pairs.folds[sel]
    used = np.unique(np.r_[ia, ib])
    rows: List[Dict[str, Any]] = []
    for s in args.sizes:
        photos = [make_photo(faces[i], s, seed=int(i)) for i in used]
        t0 = time.perf_counter()
        e, info = lrface.embed(photos, flip=True, on_no_face="nan", return_info=True)
        wall = time.perf_counter() - t0
        full = np.full((len(faces), e.shape[1]), np.nan, np.float32)
        full[used] = e
        found = ~np.isnan(full).any(axis=1)
        sc = np.where(found[ia] & found[ib], np.nansum(full[ia] * full[ib], axis=1), -1.0)
        r = kfold_verification(sc, labels, fold_ids=folds)
        px = np.array([i.face_px for i in info if i.found])
        row = {"face_px": s, "images": int(len(used)), "found": float(found[used].mean()),
               "models": dict(Counter(i.model for i in info if i.found)),
               "measured_px_median": float(np.median(px)) if len(px) else None,
               "upsampled": float(np.mean([i.upsampled > 1 for i in info if i.found])) if len(px) else None,
               "pairs": int(len(labels)), "folds": args.folds or list(range(1, 11)),
               "accuracy": r["accuracy"], "accuracy_std": r["accuracy_std"],
               "seconds_per_photo": wall / len(used), **provenance()}
        rows.append(row)
        print(f"{s} px: found {100 * row['found']:.1f}%, models {row['models']}, measured median "
              f"{row['measured_px_median']:.1f} px, LFW {100 * row['accuracy']:.2f} +- {100 * row['accuracy_std']:.2f} "
              f"({row['pairs']} pairs), {1000 * row['seconds_per_photo']:.0f} ms/photo", flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
