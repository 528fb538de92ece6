"""Distillation speed on this machine: samples/s and wall time per epoch, with and without
the teacher cache.

Runs ``--steps`` training steps of a config twice, once reading the teacher's outputs from
the cache (the default) and once running the frozen teacher on every batch
(``live_teacher: true``), and writes both, with the one-time cost of building the cache,
to a JSON result file.

Usage::

    python benchmarks/train_speed.py --config benchmarks/configs/celeba16.yaml --steps 30 \
        --out benchmarks/results/train_speed_16.json
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--runs", default="runs/train_speed")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    import pandas as pd

    from lrface.config import load_config
    from lrface.distill.config import DistillConfig
    from lrface.distill.loop import train_distill
    from lrface.provenance import provenance

    rows = []
    for live in (False, True):
        cfg = load_config(DistillConfig, args.config, args.set + [f"max_steps={args.steps}", f"live_teacher={live}",
                                                                   "data.val_pairs=200"])
        out = Path(args.runs) / ("live" if live else "cached")
        shutil.rmtree(out, ignore_errors=True)  # a fresh run, not a resume
        train_distill(cfg, out, progress=False)
        m = pd.read_csv(out / "metrics.csv")
        sps = m["samples_per_s"].dropna().iloc[1:]  # the first window includes warm-up
        run = json.loads((out / "run.json").read_text())
        rows.append({"teacher": "live (every batch)" if live else "cached", "samples_per_s": round(float(sps.median()), 1),
                     "steps": args.steps, "batch_size": cfg.optim.batch_size, "student": cfg.student_arch,
                     "assistant": cfg.assistant.arch if cfg.assistant else None, "res": cfg.res,
                     "train_faces": run["train_faces"], "config": args.config, **provenance()})
    build = json.loads((Path(args.runs) / "cached" / "run.json").read_text()).get("teacher_cache") or {}
    pack_faces = build.get("faces")
    for r in rows:
        r["cache_build_seconds"] = build.get("seconds")
        r["cache_build_forwards_per_s"] = build.get("faces_per_s")
        r["pack_faces"] = pack_faces
        r["epoch_seconds"] = round(r["train_faces"] / r["samples_per_s"], 1)
    cached, live = rows[0]["samples_per_s"], rows[1]["samples_per_s"]
    for r in rows:
        r["speedup_from_cache"] = round(cached / live, 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    for r in rows:
        print(f"teacher {r['teacher']}: {r['samples_per_s']} samples/s")
    print(f"cache speed-up {rows[0]['speedup_from_cache']}x; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
