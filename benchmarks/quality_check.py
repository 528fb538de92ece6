"""Does the quality score earn its place? LFW 10-fold with the lowest-quality pairs dropped.

The shipped student for ``--res`` embeds every LFW View-2 image degraded to ``res`` (area,
flip-TTA, through :func:`lrface.embed` with ``align=False`` on the aligned crops, i.e. exactly
what a user gets), returning the quality score with each face. A pair's quality is the lower
of its two faces'. Reported: 10-fold accuracy on all 6,000 pairs; after dropping the
``--drop`` fraction of pairs with the lowest pair quality (per fold, thresholds still chosen
on the other nine folds); and, as a control, after dropping the same number of pairs at
random (mean of 20 draws), so a gain is not just "fewer pairs".

Usage::

    python benchmarks/quality_check.py --res 16 --out benchmarks/results/quality_16.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np


def kfold_kept(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray, keep: np.ndarray) -> Dict[str, float]:
    from lrface.eval.metrics import kfold_verification

    r = kfold_verification(scores[keep], labels[keep], fold_ids=folds[keep])
    return {"accuracy": r["accuracy"], "accuracy_std": r["accuracy_std"], "pairs": int(keep.sum())}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--res", type=int, default=16)
    p.add_argument("--drop", type=float, default=0.10, help="fraction of pairs to drop (default 0.10)")
    p.add_argument("--pairs", default="pairs.txt")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    import lrface
    from lrface.eval.protocols.lfw import LFWVerification
    from lrface.face.degrade import degrade
    from lrface.provenance import provenance

    proto = LFWVerification(pairs=args.pairs)
    pairs, _ = proto.check()
    faces = proto.faces()
    index = {k: i for i, k in enumerate(pairs.images())}
    ia = np.array([index[k] for k in pairs.first])
    ib = np.array([index[k] for k in pairs.second])
    lr = degrade(faces, args.res, "area")
    t0 = time.perf_counter()
    e, info = lrface.embed(list(lr), align=False, flip=True, return_info=True)
    wall = time.perf_counter() - t0
    q = np.array([i.quality for i in info])
    models = sorted({i.model for i in info})
    scores = np.sum(e[ia] * e[ib], axis=1)
    labels = pairs.labels.astype(int)
    folds = pairs.folds
    pair_q = np.minimum(q[ia], q[ib])
    n_drop = int(round(args.drop * len(scores)))
    cut = np.sort(pair_q)[n_drop]
    keep_q = pair_q >= cut
    everything = kfold_kept(scores, labels, folds, np.ones(len(scores), bool))
    by_quality = kfold_kept(scores, labels, folds, keep_q)
    rng = np.random.default_rng(0)
    rand = []
    for _ in range(20):
        keep = np.ones(len(scores), bool)
        keep[rng.choice(len(scores), n_drop, replace=False)] = False
        rand.append(kfold_kept(scores, labels, folds, keep)["accuracy"])
    dropped = ~keep_q
    row: Dict[str, Any] = {
        "res": args.res, "models": models, "pairs_file": args.pairs, "drop": args.drop,
        "all_accuracy": everything["accuracy"], "all_accuracy_std": everything["accuracy_std"],
        "quality_kept_accuracy": by_quality["accuracy"], "quality_kept_accuracy_std": by_quality["accuracy_std"],
        "quality_kept_pairs": by_quality["pairs"], "random_kept_accuracy": float(np.mean(rand)),
        "random_kept_accuracy_sd": float(np.std(rand)),
        "dropped_genuine": int(labels[dropped].sum()), "dropped_impostor": int((1 - labels[dropped]).sum()),
        "quality_median": float(np.median(q)), "quality_p10": float(np.percentile(q, 10)),
        "embed_seconds": round(wall, 1), **provenance(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(row, indent=2) + "\n")
    print(f"LFW {args.pairs} at {args.res} px ({', '.join(models)}): all pairs {100 * row['all_accuracy']:.2f}%, "
          f"lowest-quality {100 * args.drop:.0f}% dropped {100 * row['quality_kept_accuracy']:.2f}%, "
          f"random {100 * args.drop:.0f}% dropped {100 * row['random_kept_accuracy']:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
