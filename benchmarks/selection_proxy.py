"""How well does each selection score predict LFW View 2? A check of the selection protocol.

Recipes are selected on the validation split of the training identities (held-out CelebA
people, ``val_auc``) and may also be selected on LFW View 1 (``pairsDevTest.txt``); LFW View 2
is only reported. This script takes every 16 px run of the method-table result files whose
run folder is still on disk, scores its student on View 1 (``lr-lr``, flip-TTA, the same
``area`` degradation), and reports, over all of them, the Spearman rank correlation of
``val_auc`` and of View 1 accuracy with the View 2 accuracy already in the result file. It
selects nothing: it says which proxy the next recipe search should trust.

Usage::

    python benchmarks/selection_proxy.py --out benchmarks/results/selection_proxy_16.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("methods16", "recipe16", "capacity16", "augment16", "scaling16", "views16")


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    import pandas as pd

    return float(pd.Series(a).rank().corr(pd.Series(b).rank()))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", nargs="+", default=list(TABLES), help="method-table stems (16 px)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "selection_proxy_16.json"))
    args = p.parse_args(argv)

    from lrface.bench import run
    from lrface.provenance import provenance

    cache = Path(os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    rows: List[Dict[str, Any]] = []
    for stem in args.tables:
        path = ROOT / "benchmarks" / "results" / f"method_table_{stem}.json"
        for r in json.loads(path.read_text()):
            student = Path(r["run"]) / "student.pt"
            if r.get("res") != 16 or r.get("val_auc") is None or not student.is_file():
                continue
            v1 = run("lfw", [16], [str(student)], flip=True, cache_dir=cache,
                     protocol_kwargs={"pairs": "pairsDevTest.txt"})[0]
            rows.append({"table": stem, "method": r["method"], "val_auc": r["val_auc"],
                         "view1_accuracy": v1["accuracy"], "view1_auc": v1["auc"],
                         "view2_accuracy": r["lr_lr_accuracy"], "view2_accuracy_std": r["lr_lr_accuracy_std"]})
            print(f"{stem}/{r['method']}: val AUC {100 * r['val_auc']:.2f}  View 1 {100 * v1['accuracy']:.2f}  "
                  f"View 2 {100 * r['lr_lr_accuracy']:.2f}", flush=True)
    if len(rows) < 3:
        raise SystemExit(f"error: only {len(rows)} runs with their folders found; nothing to correlate")
    v2 = [x["view2_accuracy"] for x in rows]
    summary = {"runs": len(rows),
               "spearman_val_auc_vs_view2": spearman([x["val_auc"] for x in rows], v2),
               "spearman_view1_vs_view2": spearman([x["view1_accuracy"] for x in rows], v2),
               "spearman_view1_auc_vs_view2": spearman([x["view1_auc"] for x in rows], v2),
               **provenance()}
    Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k.startswith(("runs", "spearman"))}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
