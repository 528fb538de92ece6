"""Train, calibrate, evaluate and ship the default models in ``lrface/weights``.

The zoo (``benchmarks/configs/zoo.yaml``) lives in the embedding space of dlib's public-domain
face ResNet:

* ``lrface-hr``: the ResNet itself (shipped by ``benchmarks/ship_hr.py``; calibrated here);
* ``lrface-lr``: the ResNet adapted to faces of 8-32 px by ``lrface-train adapt``;
* ``lrface-s8`` .. ``lrface-s32``: compact students distilled from ``lrface-lr``.

For every model named, in that order (a student needs ``lrface-lr``; thresholds need the
validation split of the ``lrface-lr`` run, which every run shares: same data, seed and
overlap judge), this script:

1. trains it into ``runs/zoo/<name>`` (rerunning resumes or skips finished runs);
2. calibrates verification thresholds at FAR 1e-2, 1e-3 and 1e-4 on the held-out validation
   identities (CelebA; ``val_indices.npy``), never on LFW View 2: both faces by the model
   (per face size for ``lrface-lr``) and the model's LR face against ``lrface-hr``'s full
   resolution face; and the quality reference (median raw embedding norm, flip-averaged);
3. evaluates it once on LFW View 2 (flip-TTA): ``lr-lr`` and ``hr-lr`` (``lrface-hr`` on the
   112 px side) at its sizes;
4. with ``--ship``, writes the weights into ``lrface/weights`` (half precision for the two
   ResNets when LFW moves by less than 0.05 points) with their manifest entries.

Rows go to ``benchmarks/results/zoo.json`` (rendered into docs/results.md and the README by
``benchmarks/make_tables.py``).

Usage::

    python benchmarks/ship_hr.py                                   # lrface-hr into the package
    python benchmarks/train_zoo.py --only lrface-lr lrface-hr --ship
    python benchmarks/train_zoo.py --only lrface-s8 lrface-s12 lrface-s16 lrface-s20 lrface-s24 lrface-s32 --ship
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from method_table import merge  # noqa: E402  (one deep-merge rule for every table)

HR, LR = "lrface-hr", "lrface-lr"
LR_SIZES = (8, 12, 16, 20, 24, 32)
from lrface.decisions import FAR_GRID as FARS  # noqa: E402  (every operating point the manifest stores)
TERMS = {
    HR: "CC0 1.0 (public domain): dlib's weights, converted; see LICENSE-dlib.txt",
    LR: ("fine-tuned from lrface-hr (CC0) on CelebA faces; CelebA is licensed for non-commercial research "
         "only, so check whether its terms bind your use"),
    "student": ("distilled from lrface-lr on CelebA faces; CelebA is licensed for non-commercial research only, "
                "so check whether its terms bind your use"),
}


def val_embeddings(model: Any, pack: Any, idx: np.ndarray, res: Optional[int]) -> np.ndarray:
    """Raw flip-averaged embeddings of pack faces ``idx`` at ``res`` px (``None``: full resolution)."""
    from lrface.models.inputs import inference_copy, lr_faces, run_batches

    hr, _ = pack.batch(idx)
    faces = lr_faces(hr, res, "area") if res is not None else hr
    m = inference_copy(model)
    return ((run_batches(m, faces) + run_batches(m, np.ascontiguousarray(faces[:, :, ::-1]))) / 2).astype(np.float64)


def logged_train_seconds(run_dir: Path) -> float:
    """Training time of a finished run from its ``metrics.csv``: every logged window's steps
    times the batch size over its samples/s (validation and caching excluded)."""
    import pandas as pd

    batch = int(yaml.safe_load((run_dir / "config.yaml").read_text())["optim"]["batch_size"])
    m = pd.read_csv(run_dir / "metrics.csv").dropna(subset=["samples_per_s"])
    steps = m["step"].diff().fillna(m["step"].iloc[0])
    return float((steps * batch / m["samples_per_s"]).sum())


def lfw(model: str, sizes: Sequence[Optional[int]], cache: Path) -> Dict[str, Any]:
    """LFW View 2, flip-TTA: ``lr-lr`` per size and, for LR sizes, ``hr-lr`` with lrface-hr."""
    from lrface.bench import run

    out: Dict[str, Any] = {}
    for s in sizes:
        modes = [("lr-lr", None)] + ([("hr-lr", HR)] if s is not None else [])
        for mode, hr in modes:
            row = run("lfw", [s if s is not None else 112], [model], mode=mode, flip=True, cache_dir=cache, hr_model=hr)[0]
            key = f"{mode.replace('-', '_')}_{s if s is not None else 112}"
            out.update({f"{key}_accuracy": row["accuracy"], f"{key}_accuracy_std": row["accuracy_std"],
                        f"{key}_auc": row["auc"], f"{key}_tar_at_far_1e-3": row["tar_at_far_1e-3"]})
            print(f"  LFW {mode} at {s or 112}: {100 * row['accuracy']:.2f} +- {100 * row['accuracy_std']:.2f}",
                  flush=True)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "benchmarks" / "configs" / "zoo.yaml"))
    p.add_argument("--only", nargs="+", help="only these models")
    p.add_argument("--runs", default="runs/zoo")
    p.add_argument("--ship", action="store_true", help="write the weights into lrface/weights with manifest entries")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "zoo.json"))
    p.add_argument("--cache", default=None, help="embedding cache for LFW (default $LRFACE_CACHE)")
    p.add_argument("--machine", default="2-core CPU (development machine)")
    args = p.parse_args(argv)

    import pandas as pd
    import torch

    from lrface.config import from_dict, read_yaml
    from lrface.distill.config import AdaptConfig, DistillConfig
    from lrface.distill.loop import train_distill
    from lrface.distill.trainer import build_data
    from lrface.eval.calibrate import far_thresholds
    from lrface.models.weights import PACKAGE_WEIGHTS, load_model, read_manifest, sha256_file, write_manifest_entry
    from lrface.provenance import provenance

    cpath = Path(args.config)
    spec = yaml.safe_load(cpath.read_text())
    students: Dict[str, Any] = dict(spec["students"]["models"])
    names: List[str] = [LR, HR, *students]
    runs = Path(args.runs)
    out = Path(args.out)
    cache = Path(args.cache or os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    rows: Dict[str, Dict[str, Any]] = {r["model"]: r for r in json.loads(out.read_text())} if out.is_file() else {}
    lr_run = runs / LR
    adapt_raw = merge(read_yaml(cpath.parent / spec["lr"]["base"]), dict(spec["lr"].get("set") or {}))
    adapt_raw["name"] = LR
    acfg = from_dict(AdaptConfig, adapt_raw, where=f"zoo:{LR}")
    state: Dict[str, Any] = {}

    def split() -> Any:
        """The shared validation split: (pack, sorted validation indices, labels)."""
        if "pack" not in state:
            dcfg = acfg.to_distill()
            pack = build_data(dcfg, progress=False)
            idx = np.sort(np.load(lr_run / "val_indices.npy"))
            state.update(pack=pack, idx=idx, labels=pack.batch(idx)[1])
        return state["pack"], state["idx"], state["labels"]

    def hr_val() -> np.ndarray:
        if "hr" not in state:
            pack, idx, _ = split()
            state["hr"] = val_embeddings(load_model(HR), pack, idx, None)
        return state["hr"]

    for name in args.only or names:
        if name not in names:
            raise SystemExit(f"error: unknown model {name!r}; known: {', '.join(names)}")
        if name != LR and not (lr_run / "done.json").is_file():
            raise SystemExit(f"error: train {LR} first (python benchmarks/train_zoo.py --only {LR})")
        t0 = time.perf_counter()
        meta: Dict[str, Any] = {}
        row: Dict[str, Any] = {"model": name}
        if name == HR:
            weights = Path(load_model(HR).weights.path)
            pack, idx, labels = split()
            e = hr_val()
            row.update(kind="hr", res=112, sizes=[112], arch="dlib_resnet_v1", train_seconds=0.0,
                       thresholds=far_thresholds(e, e, labels, FARS),
                       quality_ref=float(np.median(np.linalg.norm(e, axis=1))), val_faces=int(len(labels)),
                       **lfw(HR, [None], cache))
            meta.update(thresholds=row["thresholds"], quality_ref=round(row["quality_ref"], 6))
        else:
            finished_before = ((lr_run if name == LR else runs / name) / "done.json").is_file()
            if name == LR:
                weights = train_distill(acfg.to_distill(), lr_run, progress=False, product="adapted")
                sizes: Sequence[int] = LR_SIZES
                recipe = f"{cpath.relative_to(ROOT)} (lr: {spec['lr']['base']})"
                kind_row = {"kind": "lr", "sizes": list(sizes), "arch": "dlib_resnet_v1"}
            else:
                raw = merge(read_yaml(cpath.parent / spec["students"]["base"]), dict(students[name] or {}))
                raw["name"] = name
                dcfg = from_dict(DistillConfig, raw, where=f"zoo:{name}")
                weights = train_distill(dcfg, runs / name, progress=False)
                sizes = [dcfg.res]
                recipe = f"{cpath.relative_to(ROOT)} (students.models.{name})"
                kind_row = {"kind": "lr", "sizes": [dcfg.res], "arch": dcfg.student_arch}
            run_dir = Path(weights).parent
            trained_now = not finished_before
            if not np.array_equal(np.load(run_dir / "val_indices.npy"), np.load(lr_run / "val_indices.npy")):
                raise SystemExit(f"error: {name} holds out other validation faces than {LR} (same data, seed, judge needed)")
            # a run finished by an earlier call: its training time from its own log, not this call's wall
            wall = time.perf_counter() - t0 if trained_now else logged_train_seconds(run_dir)
            model = load_model(weights)
            pack, idx, labels = split()
            thr, thr_hr, qref = {}, {}, {}
            for s in sizes:
                e = val_embeddings(model, pack, idx, s)
                thr[s] = far_thresholds(e, e, labels, FARS)
                thr_hr[s] = far_thresholds(hr_val(), e, labels, FARS)
                qref[s] = round(float(np.median(np.linalg.norm(e, axis=1))), 6)
            m = pd.read_csv(run_dir / "metrics.csv")
            last = m.dropna(subset=["val_auc"]).iloc[-1]
            row.update(**kind_row, res=16 if name == LR else int(sizes[0]),
                       train_seconds=round(wall, 1), val_auc=float(last["val_auc"]),
                       val={k: float(v) for k, v in last.items() if str(k).startswith("val_") and pd.notna(v)},
                       thresholds_by_res={str(k): v for k, v in thr.items()},
                       thresholds_hr_by_res={str(k): v for k, v in thr_hr.items()},
                       quality_ref_by_res={str(k): v for k, v in qref.items()}, val_faces=int(len(labels)),
                       run=str(run_dir), **{k: v for k, v in json.loads((run_dir / "run.json").read_text()).items()
                                            if k in ("train_faces", "train_identities", "total_steps")},
                       **lfw(str(weights), list(sizes), cache))
            run_entry = next(iter(read_manifest(run_dir).values()))
            meta.update(run_entry.meta)
            if name == LR:
                meta.update(thresholds_by_res=thr, thresholds_hr_by_res=thr_hr, quality_ref_by_res=qref,
                            default_for_res=list(LR_SIZES), kind="lr", role="student")
            else:
                s = sizes[0]
                meta.update(thresholds=thr[s], thresholds_hr=thr_hr[s], quality_ref=qref[s], fast_for_res=[s],
                            kind="lr", role="student")
            prov = dict(meta.get("provenance") or {})
            prov.update(recipe=recipe, run_config=f"config.yaml of {run_dir}")
            meta["provenance"] = prov
        row.update({**provenance(), "machine": args.machine,
                    "params_M": round(sum(p.numel() for p in load_model(weights).parameters()) / 1e6, 4)})
        if not args.ship and name in rows:  # what only --ship measures stays from the shipping call
            row.update({k: v for k, v in rows[name].items() if k in ("fp16_shift_points_lr_lr_16", "storage")})
        rows[name] = row
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(list(rows.values()), indent=2) + "\n")
        print(f"{name}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
        if not args.ship:
            continue
        dst = PACKAGE_WEIGHTS / f"{name}.pt"
        if name != HR:
            state_dict = torch.load(weights, map_location="cpu", weights_only=True)
            half = name == LR  # the 11 MB network stored in half precision, checked below
            tmp = dst.with_name(f".{dst.name}.tmp")
            torch.save({k: v.half() if half and v.is_floating_point() else v for k, v in state_dict.items()}, tmp)
            os.replace(tmp, dst)
            meta.update(file=dst.name, sha256=sha256_file(dst), storage="float16" if half else "float32")
        entry = read_manifest(PACKAGE_WEIGHTS).get(name)
        full = dict(entry.meta) if (entry is not None and name == HR) else {}
        full.update(meta)
        full["terms"] = TERMS.get(name, TERMS["student"])
        full["threshold_note"] = ("calibrated on all impostor pairs of the held-out CelebA validation identities "
                                  f"({row['val_faces']} faces), flip-TTA; never on LFW")
        full["metrics"] = {**(full.get("metrics") or {}),
                           **{f"lfw_{k}": round(float(v), 6) for k, v in row.items() if k.startswith(("lr_lr", "hr_lr"))}}
        write_manifest_entry(PACKAGE_WEIGHTS, name, full)
        if name == LR:  # the half-precision copy must score what the float32 run did, else float32 ships
            got = lfw(LR, [16], cache)
            shift = 100 * abs(got["lr_lr_16_accuracy"] - row["lr_lr_16_accuracy"])
            row["fp16_shift_points_lr_lr_16"] = round(shift, 4)
            if shift >= 0.05:
                print(f"  half precision moves LFW by {shift:.3f} points (>= 0.05): storing float32", flush=True)
                tmp = dst.with_name(f".{dst.name}.tmp")
                torch.save(state_dict, tmp)
                os.replace(tmp, dst)
                full.update(sha256=sha256_file(dst), storage="float32")
                write_manifest_entry(PACKAGE_WEIGHTS, name, full)
            row["storage"] = full["storage"]
            out.write_text(json.dumps(list(rows.values()), indent=2) + "\n")
        print(f"  shipped {dst} ({dst.stat().st_size / 1e6:.1f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
