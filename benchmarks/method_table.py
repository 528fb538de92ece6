"""The method table: train one student per method with the same budget, evaluate each on LFW.

For every method of a methods file (``benchmarks/configs/methods16.yaml``) this trains a
student with ``lrface-train distill``'s loop (same base config, data, budget and seed; the
method only changes the losses and streams), then evaluates it once on LFW View 2 at the
config's resolution, ``lr-lr`` (student on both faces) and ``hr-lr`` (the teacher embeds the
112 px face), flip-sum. A row records the validation score the recipe would be selected on
(held-out training identities), the LFW figures (reported, never selected on), training
wall time and samples/s, and provenance. Finished methods are skipped when the script runs
again (their rows are kept), so an interrupted table resumes.

Usage::

    python benchmarks/method_table.py --methods benchmarks/configs/methods16.yaml \
        [--only mimic horkd] [--runs runs/methods16] [--out benchmarks/results/method_table_16.json]
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

ROOT = Path(__file__).resolve().parent.parent


def merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    """Deep merge; mappings in ``over`` replace keys of ``base`` one level at a time, except
    ``losses``/``assistant_losses``/``teacher_taps``, which replace wholesale (a method *is*
    its set of losses)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in ("losses", "assistant_losses",
                                                                                  "teacher_taps"):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def method_config(spec: Dict[str, Any], name: str, folder: Path) -> Dict[str, Any]:
    from lrface.config import apply_overrides, read_yaml

    base = read_yaml(folder / spec["base"])
    base = apply_overrides(base, [f"{k}={json.dumps(v)}" for k, v in (spec.get("set") or {}).items()])
    m = copy.deepcopy(spec["methods"][name] or {})
    losses = dict(m.get("losses") or {})
    losses.update(copy.deepcopy(spec.get("identity_loss") or {}))
    m["losses"] = losses
    cfg = merge(base, m)
    cfg["name"] = f"{base.get('name', 'run')}-{name}"
    return cfg


def evaluate(student: Path, hr_model: Optional[str], res: int, cache: Path) -> Dict[str, Any]:
    """LFW View 2 ``lr-lr`` at ``res`` and, when ``hr_model`` is given, ``hr-lr`` with that
    model embedding the 112 px side (flip-TTA both)."""
    from lrface.bench import run

    out: Dict[str, Any] = {}
    modes = [("lr-lr", None)] + ([("hr-lr", str(hr_model))] if hr_model is not None else [])
    for mode, hr in modes:
        row = run("lfw", [res], [str(student)], mode=mode, flip=True, cache_dir=cache, hr_model=hr)[0]
        key = mode.replace("-", "_")
        out.update({f"{key}_accuracy": row["accuracy"], f"{key}_accuracy_std": row["accuracy_std"],
                    f"{key}_tar_at_far_1e-3": row["tar_at_far_1e-3"], f"{key}_auc": row["auc"]})
    return out


def _run_sizes(run_dir: Path) -> Dict[str, Any]:
    """Training faces and identities of a run (its run.json), {} when it has none; with a
    cosine mimic loss also the mean student-teacher cosine on the training batches of the
    last epoch (``train_cos``) beside the validation one (``val_cos``): their gap shows
    over-fitting."""
    path = run_dir / "run.json"
    if not path.is_file():
        return {}
    info = json.loads(path.read_text())
    out: Dict[str, Any] = {k: int(info[k]) for k in ("train_faces", "train_identities") if k in info}
    import pandas as pd
    from lrface.config import read_yaml

    m = pd.read_csv(run_dir / "metrics.csv")
    if "val_cos" in m and m["val_cos"].notna().any():
        out["val_cos"] = round(float(m["val_cos"].dropna().iloc[-1]), 4)
    mimic = (read_yaml(run_dir / "config.yaml").get("losses") or {}).get("mimic") or {}
    if "s/mimic/cosine" in m and mimic.get("kind") == "cosine":
        last = m[(m["s/mimic/cosine"].notna()) & (m["epoch"] > m["epoch"].max() - 1)]
        out["train_cos"] = round(1.0 - float(last["s/mimic/cosine"].mean()) / float(mimic.get("weight", 1.0)), 4)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=str(ROOT / "benchmarks" / "configs" / "methods16.yaml"))
    p.add_argument("--only", nargs="+", help="run only these methods")
    p.add_argument("--runs", help="folder for the run folders (default runs/<methods file stem>)")
    p.add_argument("--out", help="result JSON (default benchmarks/results/method_table_<stem>.json)")
    p.add_argument("--cache", default=None, help="embedding cache for the LFW evaluation (default $LRFACE_CACHE)")
    p.add_argument("--machine", default="2-core CPU (development machine)", help="recorded in each row")
    args = p.parse_args(argv)

    import os

    from lrface.config import from_dict
    from lrface.distill.config import DistillConfig
    from lrface.distill.loop import train_distill
    from lrface.provenance import provenance

    mpath = Path(args.methods)
    spec = yaml.safe_load(mpath.read_text())
    stem = mpath.stem
    runs = Path(args.runs or f"runs/{stem}")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"method_table_{stem}.json")
    cache = Path(args.cache or os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    rows: List[Dict[str, Any]] = json.loads(out.read_text()) if out.is_file() else []
    done = {r["method"] for r in rows}
    for name in args.only or list(spec["methods"]):
        if name not in spec["methods"]:
            raise SystemExit(f"error: unknown method {name!r}; known: {', '.join(spec['methods'])}")
        if name in done:
            row = next(r for r in rows if r["method"] == name)
            extra = {} if "train_cos" in row else _run_sizes(runs / name)  # rows written before these were recorded
            if extra:
                row.update(extra)
                out.write_text(json.dumps(rows, indent=2) + "\n")
            print(f"{name}: done (kept)")
            continue
        cfg = from_dict(DistillConfig, method_config(spec, name, mpath.parent), where=f"{stem}:{name}")
        run_dir = runs / name
        t0 = time.perf_counter()
        student = train_distill(cfg, run_dir, progress=False)
        wall = time.perf_counter() - t0
        import pandas as pd

        m = pd.read_csv(run_dir / "metrics.csv")
        val = m.dropna(subset=["val_auc"]).iloc[-1] if "val_auc" in m else None
        sps = m["samples_per_s"].dropna()
        row = {"method": name, "res": cfg.res, "student": cfg.student_arch, "epochs": cfg.optim.epochs,
               "losses": json.dumps(cfg.losses, sort_keys=True),
               "assistant": cfg.assistant.arch if cfg.assistant else None,
               "val_auc": float(val["val_auc"]) if val is not None else None,
               "val_acc": float(val["val_acc"]) if val is not None else None,
               "val_hr_auc": float(val["val_hr_auc"]) if val is not None else None,
               "train_seconds": round(wall, 1), "samples_per_s": round(float(sps.median()), 1) if len(sps) else None,
               "machine": args.machine, "run": str(run_dir), **_run_sizes(run_dir),
               **evaluate(student, cfg.teacher.weights, cfg.res, cache), **provenance()}
        rows.append(row)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2) + "\n")
        print(f"{name}: val_auc {row['val_auc']:.4f}  LFW lr-lr {100 * row['lr_lr_accuracy']:.2f}  "
              f"hr-lr {100 * row['hr_lr_accuracy']:.2f}  ({wall:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
