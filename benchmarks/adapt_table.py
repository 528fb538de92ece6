"""Adaptation recipes side by side: ``lrface-train adapt`` runs selected on validation.

Every variant of a table file (``benchmarks/configs/adapt_dlib.yaml``: a ``base`` adapt config
and per-variant overrides) is trained with ``lrface-train adapt``'s loop, and a row records
what a recipe is selected on: the validation figures on held-out training identities at each
validation size (``val_auc`` is their mean), the training wall time and samples/s. With
``--lfw`` the variant is also evaluated once on LFW View 2 (flip-TTA) at the given sizes,
``lr-lr`` and ``hr-lr`` with the frozen original on the 112 px side: reported, never selected
on. Finished variants are kept when the script runs again, so an interrupted table resumes.

Usage::

    python benchmarks/adapt_table.py --table benchmarks/configs/adapt_dlib.yaml [--only in112] \
        [--lfw 8 12 16 20 24 32] [--out benchmarks/results/adapt_dlib.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from method_table import merge  # noqa: E402  (one deep-merge rule for every table)


def variant_config(spec: Dict[str, Any], name: str, folder: Path) -> Dict[str, Any]:
    from lrface.config import read_yaml

    cfg = merge(merge(read_yaml(folder / spec["base"]), dict(spec.get("set") or {})), dict(spec["variants"][name] or {}))
    cfg["name"] = f"{cfg.get('name', 'adapt')}-{name}"
    return cfg


def lfw_figures(model: Path, hr_model: str, sizes: Sequence[int], cache: Path) -> Dict[str, Any]:
    """LFW View 2 (flip-TTA) ``lr-lr`` and ``hr-lr`` per size, keys ``lr_lr_<s>`` / ``hr_lr_<s>``."""
    from lrface.bench import run

    out: Dict[str, Any] = {}
    for mode, hr in (("lr-lr", None), ("hr-lr", hr_model)):
        for row in run("lfw", list(sizes), [str(model)], mode=mode, flip=True, cache_dir=cache, hr_model=hr):
            key = f"{mode.replace('-', '_')}_{row['res']}"
            out.update({f"{key}_accuracy": row["accuracy"], f"{key}_accuracy_std": row["accuracy_std"],
                        f"{key}_auc": row["auc"], f"{key}_tar_at_far_1e-3": row["tar_at_far_1e-3"]})
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", default=str(ROOT / "benchmarks" / "configs" / "adapt_dlib.yaml"))
    p.add_argument("--only", nargs="+", help="run only these variants")
    p.add_argument("--runs", help="folder for the run folders (default runs/<table stem>)")
    p.add_argument("--out", help="result JSON (default benchmarks/results/<table stem>.json)")
    p.add_argument("--lfw", type=int, nargs="*", help="also evaluate on LFW View 2 at these sizes (reported only)")
    p.add_argument("--cache", default=None, help="embedding cache for LFW (default $LRFACE_CACHE)")
    p.add_argument("--machine", default="2-core CPU (development machine)", help="recorded in each row")
    args = p.parse_args(argv)

    import pandas as pd

    from lrface.config import from_dict
    from lrface.distill.config import AdaptConfig
    from lrface.distill.loop import train_distill
    from lrface.provenance import provenance

    tpath = Path(args.table)
    spec = yaml.safe_load(tpath.read_text())
    runs = Path(args.runs or f"runs/{tpath.stem}")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"{tpath.stem}.json")
    cache = Path(args.cache or os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    rows: List[Dict[str, Any]] = json.loads(out.read_text()) if out.is_file() else []
    for name in args.only or list(spec["variants"]):
        if name not in spec["variants"]:
            raise SystemExit(f"error: unknown variant {name!r}; known: {', '.join(spec['variants'])}")
        old = next((r for r in rows if r["variant"] == name), None)
        acfg = from_dict(AdaptConfig, variant_config(spec, name, tpath.parent), where=f"{tpath.stem}:{name}")
        run_dir = runs / name
        if old is None:
            t0 = time.perf_counter()
            product = train_distill(acfg.to_distill(), run_dir, progress=False, product="adapted")
            wall = time.perf_counter() - t0
            m = pd.read_csv(run_dir / "metrics.csv")
            val = m.dropna(subset=["val_auc"]).iloc[-1]
            sps = m["samples_per_s"].dropna()
            row = {"variant": name, "model": acfg.model, "input_size": acfg.input_size, "sizes": list(acfg.sizes),
                   "losses": json.dumps(acfg.losses, sort_keys=True), "epochs": acfg.optim.epochs,
                   "max_steps": acfg.max_steps, "lr": acfg.optim.lr, "batch_size": acfg.optim.batch_size,
                   **{k: float(v) for k, v in val.items() if str(k).startswith("val_") and pd.notna(v)},
                   "train_seconds": round(wall, 1),
                   "samples_per_s": round(float(sps.median()), 1) if len(sps) else None,
                   **json.loads((run_dir / "run.json").read_text()), "machine": args.machine, "run": str(run_dir),
                   **provenance()}
            row.pop("teacher_cache", None)
            rows.append(row)
        else:
            row, product = old, run_dir / "adapted.pt"
            print(f"{name}: trained (kept)")
        if args.lfw and not all(f"lr_lr_{s}_accuracy" in row for s in args.lfw):
            row.update(lfw_figures(product, acfg.model, args.lfw, cache))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2) + "\n")
        print(f"{name}: val_auc {row['val_auc']:.4f} " + " ".join(
            f"{k} {row[k]:.4f}" for k in sorted(row) if k.startswith("val_auc_")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
