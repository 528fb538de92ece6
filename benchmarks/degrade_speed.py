"""Single-core throughput of :func:`lrface.face.degrade.degrade` (faces/s per core).

Every (preset, res) is timed on the same fixed batch of synthetic 112x112x3 uint8 faces
(``--batch``, default 2,048) with ``--rounds`` interleaved rounds; ``faces_per_s`` is
``batch / best wall time`` and ``faces_per_cpu_s`` is ``batch / best process CPU time``
(the more load-robust figure on a shared machine). By default all thread pools (OpenMP,
OpenBLAS/MKL via environment variables set before numpy is imported, threadpoolctl when
installed, OpenCV and torch) are limited to ``--threads 1``, so the numbers are per core.

Rows are appended to ``--out`` (default ``benchmarks/results/degrade_speed.csv``) with the
git commit (``-dirty`` when tracked files differ), date, numpy/OpenCV versions, the command
line, the load average at start and end and ``--note``, so "before" and "after" runs sit
side by side. (Changes under ``benchmarks/results`` do not count as dirty.)

Usage:
    python benchmarks/degrade_speed.py                                   # surveillance + area, 16 and 32 px
    python benchmarks/degrade_speed.py --presets surveillance mild --res 16 24 32 --rounds 5
    python benchmarks/degrade_speed.py --batch 512 --out /tmp/degrade.csv --note "quick check"
"""
from __future__ import annotations

import argparse
import os
import sys

# Thread limits must be in the environment before numpy (OpenBLAS) starts its pool.
if __name__ == "__main__":
    _pre = argparse.ArgumentParser(add_help=False)
    _pre.add_argument("--threads", type=int, default=1)
    _n = str(_pre.parse_known_args()[0].threads)
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[_var] = _n

import csv  # noqa: E402
import datetime as _dt  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Sequence  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install

from lrface.face.degrade import degrade  # noqa: E402

FIELDS = ["preset", "res", "faces_per_s", "faces_per_cpu_s", "threads", "batch", "rounds", "commit",
          "date", "numpy", "cv2", "loadavg_start", "loadavg_end", "command", "note"]


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=ROOT, timeout=10)
        # results files do not count: appending this very CSV must not mark the next run dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!benchmarks/results"], capture_output=True, text=True, cwd=ROOT,
                               timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return ""


def _limit_threads(n: int) -> object:
    """Limit every pool we can reach to ``n`` threads; returns a threadpoolctl handle (or None)."""
    cv2.setNumThreads(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # env vars above already did it
        return None
    return threadpool_limits(limits=n)


def faces(n: int, seed: int = 0) -> np.ndarray:
    """Smooth random 112x112 RGB batch (speed does not depend on the content)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 112, 112, 3), dtype=np.uint8)
    return np.stack([cv2.GaussianBlur(im, (0, 0), 2.0) for im in x])


def bench(presets: Sequence[str], resolutions: Sequence[int], batch: int, rounds: int) -> List[Dict]:
    x = faces(batch)
    configs = [(p, r) for p in presets for r in resolutions]
    for p, r in configs:  # warm caches (resample matrices, codec) outside the timing
        degrade(x[:8], r, p, seed=1)
    wall: Dict = {c: [] for c in configs}
    cpu: Dict = {c: [] for c in configs}
    for _ in range(rounds):  # interleaved, so a load change hits every config alike
        for p, r in configs:
            t0, c0 = time.perf_counter(), time.process_time()
            degrade(x, r, p, seed=1)
            wall[(p, r)].append(time.perf_counter() - t0)
            cpu[(p, r)].append(time.process_time() - c0)
    return [{"preset": p, "res": r, "faces_per_s": round(batch / min(wall[(p, r)]), 1),
             "faces_per_cpu_s": round(batch / min(cpu[(p, r)]), 1)} for p, r in configs]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["surveillance", "area"])
    ap.add_argument("--res", nargs="+", type=int, default=[16, 32])
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="thread limit for every pool (default 1: per core)")
    ap.add_argument("--note", default="", help="free text stored with the rows (e.g. what code ran)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "degrade_speed.csv")
    args = ap.parse_args(argv)

    _handle = _limit_threads(args.threads)  # noqa: F841 - keep the limits for the whole run
    meta = {"threads": args.threads, "batch": args.batch, "rounds": args.rounds, "commit": _git_commit(),
            "date": _dt.datetime.now().isoformat(timespec="seconds"), "numpy": np.__version__,
            "cv2": cv2.__version__, "loadavg_start": _loadavg(),
            "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
            "note": args.note}
    rows = bench(args.presets, args.res, args.batch, args.rounds)
    meta["loadavg_end"] = _loadavg()
    rows = [{**r, **meta} for r in rows]

    print(f"commit {meta['commit']}  threads {args.threads}  batch {args.batch}  best of {args.rounds}  "
          f"load {meta['loadavg_start']} -> {meta['loadavg_end']}")
    print(f"{'preset':<14}{'res':>5}{'faces/s':>12}{'faces/cpu-s':>13}")
    for r in rows:
        print(f"{r['preset']:<14}{r['res']:>5}{r['faces_per_s']:>12.0f}{r['faces_per_cpu_s']:>13.0f}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    new = not args.out.exists()
    with args.out.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            w.writeheader()
        w.writerows(rows)
    print(f"appended {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
