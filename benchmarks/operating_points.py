"""Operating points of the shipped models on LFW View 2 at the thresholds they ship with.

The thresholds in the manifest were calibrated on held-out CelebA identities for false accept
rates of 1e-2, 1e-3 and 1e-4 (``benchmarks/train_zoo.py``); this measures what they do on
LFW View 2 (flip-TTA, ``area``): the share of genuine pairs accepted (TAR) and the share of
impostor pairs accepted (the FAR actually reached on LFW), per model, size and mode
(``hr-lr``: the HR side by ``lrface-hr``). Reported, never selected on.

Usage::

    python benchmarks/operating_points.py --sizes 16 24 --out benchmarks/results/operating_points.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 24])
    ap.add_argument("--models", nargs="+", default=["lrface-lr", "lrface-s{res}"],
                    help="shipped models; {res} is replaced by the size")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "operating_points.json"))
    args = ap.parse_args(argv)

    from lrface.bench import run
    from lrface.decisions import FARS, pair_threshold
    from lrface.models.weights import available_weights
    from lrface.provenance import provenance
    from lrface.settings import cache_dir

    w = available_weights()
    rows: List[Dict[str, Any]] = []
    for res in args.sizes:
        for pattern in args.models:
            name = pattern.format(res=res)
            if name not in w:
                print(f"skipping {name}: not shipped", file=sys.stderr)
                continue
            for mode, hr in (("lr-lr", None), ("hr-lr", "lrface-hr")):
                r = run("lfw", [res], [name], mode=mode, flip=True, cache_dir=cache_dir(), hr_model=hr)[0]
                scores, labels = np.asarray(r["_scores"]), np.asarray(r["_labels"]).astype(bool)
                a = w["lrface-hr"] if hr else w[name]
                row: Dict[str, Any] = {"model": name, "res": res, "mode": mode, "pairs": int(len(scores))}
                for far in FARS:
                    t = pair_threshold(a, w[name], far, None if hr else res, res)
                    row[f"threshold_{far:g}"] = round(float(t), 6)
                    row[f"tar_{far:g}"] = round(float(np.mean(scores[labels] >= t)), 6)
                    row[f"lfw_far_{far:g}"] = round(float(np.mean(scores[~labels] >= t)), 6)
                rows.append(row)
                print(json.dumps(row), flush=True)
    prov = provenance()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([{**r, **prov} for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
