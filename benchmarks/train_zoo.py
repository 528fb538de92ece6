"""Train, calibrate, evaluate and ship the default models in ``lrface/weights``.

For every model of ``benchmarks/configs/zoo.yaml`` (the HR model first, then one student per
resolution), this script:

1. trains it with ``lrface-train distill``'s loop into ``runs/zoo/<name>`` (the recipe
   selected on validation; rerunning resumes or skips finished runs);
2. calibrates verification thresholds at FAR 1e-2 and 1e-3 on the run's held-out validation
   identities (CelebA; ``val_indices.npy`` in the run folder), never on LFW View 2: both
   faces by this model (``thresholds``) and this model's LR face against the HR model's
   112 px face (``thresholds_hr``); and the quality reference (median pre-normalisation
   embedding norm of those faces, flip-averaged);
3. evaluates it once on LFW View 2, flip-sum: ``lr-lr`` at its resolution and ``hr-lr`` with
   the shipped HR model on the 112 px side (the HR model: 112 px faces on both sides);
4. with ``--ship``, copies the weights to ``lrface/weights/<name>.pt`` and writes their
   manifest entry: preprocessing, sha256, teacher, data and what the overlap guard excluded,
   recipe (config + commit), LFW figures, thresholds, quality reference, ``default_for_res``.

Rows go to ``benchmarks/results/zoo.json`` (regenerated into docs/results.md and the README
by ``benchmarks/make_tables.py``).

Usage::

    python benchmarks/train_zoo.py [--only lrface-hr lrface-s16] [--ship] [--runs runs/zoo]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from method_table import evaluate, merge  # noqa: E402  (the method table's merge rules and LFW evaluation)


def model_config(spec: Dict[str, Any], name: str, folder: Path) -> Dict[str, Any]:
    from lrface.config import read_yaml

    cfg = merge(read_yaml(folder / spec["base"]), copy.deepcopy(spec.get("recipe") or {}))
    cfg = merge(cfg, copy.deepcopy(spec["models"][name] or {}))
    cfg["name"] = name
    return cfg


def val_embeddings(model_path: Path, cfg: Any, run_dir: Path, res: Optional[int]) -> Dict[str, np.ndarray]:
    """Raw flip-averaged embeddings of the run's validation faces at ``res`` (None: 112 px)."""
    from lrface.distill.trainer import build_data
    from lrface.models.inputs import inference_copy, lr_faces, run_batches
    from lrface.models.weights import load_model

    pack = build_data(cfg, progress=False)
    idx = np.sort(np.load(run_dir / "val_indices.npy"))
    hr, labels = pack.batch(idx)
    faces = lr_faces(hr, res, "area") if res is not None and res < hr.shape[1] else hr
    m = inference_copy(load_model(model_path))
    e = (run_batches(m, faces) + run_batches(m, np.ascontiguousarray(faces[:, :, ::-1]))) / 2
    return {"emb": e.astype(np.float64), "labels": labels}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "benchmarks" / "configs" / "zoo.yaml"))
    p.add_argument("--only", nargs="+", help="only these models (the HR model must exist for students)")
    p.add_argument("--runs", default="runs/zoo")
    p.add_argument("--ship", action="store_true", help="copy the weights into lrface/weights with manifest entries")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "zoo.json"))
    p.add_argument("--cache", default=None, help="embedding cache for LFW (default $LRFACE_CACHE)")
    p.add_argument("--machine", default="2-core CPU (development machine)")
    args = p.parse_args(argv)

    import pandas as pd

    from lrface.config import from_dict
    from lrface.distill.config import DistillConfig
    from lrface.distill.loop import train_distill
    from lrface.eval.calibrate import far_thresholds
    from lrface.models.weights import PACKAGE_WEIGHTS, load_model, read_manifest, sha256_file, write_manifest_entry
    from lrface.models.zoo import HR_RES
    from lrface.provenance import provenance

    cpath = Path(args.config)
    spec = yaml.safe_load(cpath.read_text())
    names: List[str] = list(spec["models"])
    hr_name = next(n for n in names if int(spec["models"][n].get("res", 0)) >= HR_RES)
    runs = Path(args.runs)
    out = Path(args.out)
    cache = Path(args.cache or os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    rows: Dict[str, Dict[str, Any]] = {r["model"]: r for r in json.loads(out.read_text())} if out.is_file() else {}
    hr_val: Optional[Dict[str, np.ndarray]] = None
    for name in args.only or names:
        if name not in spec["models"]:
            raise SystemExit(f"error: unknown model {name!r}; known: {', '.join(names)}")
        cfg = from_dict(DistillConfig, model_config(spec, name, cpath.parent), where=f"zoo:{name}")
        run_dir = runs / name
        t0 = time.perf_counter()
        weights = train_distill(cfg, run_dir, progress=False)
        wall = time.perf_counter() - t0
        is_hr = name == hr_name
        res = None if is_hr else cfg.res
        hr_path = runs / hr_name / "student.pt"
        if not hr_path.is_file():
            raise SystemExit(f"error: train {hr_name} first (students are calibrated against it)")
        val = val_embeddings(weights, cfg, run_dir, res)
        if hr_val is None:
            hr_val = val if is_hr else val_embeddings(hr_path, cfg, runs / hr_name, None)
        thresholds = far_thresholds(val["emb"], val["emb"], val["labels"])
        thresholds_hr = None
        if not is_hr:
            if not np.array_equal(np.load(run_dir / "val_indices.npy"), np.load(runs / hr_name / "val_indices.npy")):
                raise SystemExit(f"error: {name} and {hr_name} hold out different validation faces (same data and seed needed)")
            thresholds_hr = far_thresholds(hr_val["emb"], val["emb"], val["labels"])
        quality_ref = float(np.median(np.linalg.norm(val["emb"], axis=1)))
        figures = evaluate(weights, None if is_hr else hr_path, cfg.res if not is_hr else HR_RES, cache)
        m = pd.read_csv(run_dir / "metrics.csv")
        last = m.dropna(subset=["val_auc"]).iloc[-1]
        run_entry = next(iter(read_manifest(run_dir).values()))
        row = {"model": name, "res": HR_RES if is_hr else cfg.res, "arch": cfg.student_arch,
               "params_M": round(sum(p.numel() for p in load_model(weights).parameters()) / 1e6, 4),
               "epochs": cfg.optim.epochs, "losses": json.dumps(cfg.losses, sort_keys=True),
               "val_auc": float(last["val_auc"]), "val_faces": int(len(val["labels"])),
               "thresholds": thresholds, "thresholds_hr": thresholds_hr, "quality_ref": quality_ref,
               "train_seconds": round(wall, 1), "machine": args.machine, "run": str(run_dir),
               **figures, **provenance()}
        rows[name] = row
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(list(rows.values()), indent=2) + "\n")
        print(f"{name}: val_auc {row['val_auc']:.4f}  LFW lr-lr {100 * row['lr_lr_accuracy']:.2f}"
              + (f"  hr-lr {100 * row['hr_lr_accuracy']:.2f}" if not is_hr else "")
              + f"  thresholds {thresholds}", flush=True)
        if args.ship:
            dst = PACKAGE_WEIGHTS / f"{name}.pt"
            shutil.copyfile(weights, dst)
            meta = dict(run_entry.meta)
            prov = dict(meta.get("provenance") or {})
            prov.update(recipe=str(cpath.relative_to(ROOT)) + f" (models.{name})", run_config="config.yaml of "
                        + str(run_dir), overlap_threshold=cfg.data.exclude.centroid_threshold)
            meta.update(
                file=dst.name, sha256=sha256_file(dst), role="assistant" if is_hr else "student",
                default_for_res=[HR_RES if is_hr else cfg.res],
                **({"default": True} if cfg.res == 16 and not is_hr else {}),  # load_model() with no name
                thresholds=thresholds, **({"thresholds_hr": thresholds_hr} if thresholds_hr else {}),
                threshold=thresholds["1e-3"],
                threshold_note=("calibrated on all impostor pairs of the held-out CelebA validation identities "
                                f"({len(val['labels'])} faces), flip-TTA; never on LFW"),
                quality_ref=round(quality_ref, 6), provenance=prov,
                metrics={**{k: v for k, v in (meta.get("metrics") or {}).items()},
                         **{f"lfw_{k}": round(float(v), 6) for k, v in figures.items()}},
            )
            if is_hr:
                meta.pop("degradation", None)
            write_manifest_entry(PACKAGE_WEIGHTS, name, meta)
            print(f"  shipped {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
