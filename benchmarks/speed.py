"""CPU throughput of teachers (at 112) and native-resolution students, in one run.

Every (model, mode, batch) is timed in the same process, interleaved over ``--rounds`` so that
a load change on a shared machine hits all rows alike and the ratios hold. Modes:

* ``eager``: the model as built, NCHW, ``torch.inference_mode``;
* ``fold_cl``: BatchNorm folded (:func:`lrface.models.export.fold_bn`) + channels-last
  weights and inputs;
* ``compiled``: ``fold_cl`` + ``torch.compile`` (skipped with a note if compilation fails);
* ``onnx``: ONNX Runtime on the exported model (skipped when onnxruntime is missing).

Images/s is ``batch / median(seconds per forward)``; ``x_vs_ref`` divides by the reference
model (``--ref``, default ``mobilefacenet_y1``) in the same mode and batch. The CSV records
the git commit, date, torch/onnxruntime versions, threads, CPU and the load average at the
start and end. Architectures given by name get random weights (speed does not depend on them); names of
models with weights (``lrface-s16``) load them, with their architecture options.

On a shared machine, multi-threaded PyTorch wall-clock numbers collapse whenever other
processes run: OpenMP workers busy-wait at every op's barrier, burning the CPU time the other
worker needs. Run with ``OMP_WAIT_POLICY=PASSIVE`` there (set before Python starts; it is
recorded in the CSV), or use ``--threads 1 --clock cpu`` (process CPU time), the most
load-robust figure. ONNX Runtime sessions here are created without spinning for the same
reason.

Usage:
    python benchmarks/speed.py                                   # y1 teacher + all students
    python benchmarks/speed.py --models lrstudent16 mobilefacenet_y1 --batch 1 256 --threads 2
    python benchmarks/speed.py --models mobilefacenet_y1 lrface-s16 lrface-hr --out benchmarks/results/speed_shipped.csv
    python benchmarks/speed.py --modes eager fold_cl --out benchmarks/results/speed.csv
    python benchmarks/speed.py --threads 1 --clock cpu --out benchmarks/results/speed_1t_cpu.csv
    OMP_WAIT_POLICY=PASSIVE python benchmarks/speed.py --threads 2       # on a shared machine
"""
from __future__ import annotations

import argparse
import datetime as _dt
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from lrface.models import create_model, list_models  # noqa: E402
from lrface.models.export import (  # noqa: E402
    OnnxEmbedder, export_onnx, fold_bn, maybe_compile, onnx_available, to_channels_last,
)
from lrface.models.profile import profile  # noqa: E402

MODES = ("eager", "fold_cl", "compiled", "onnx")


def _build(name: str) -> torch.nn.Module:
    """A shipped/manifest model by name (its architecture options matter for speed), else a
    randomly initialised architecture."""
    from lrface.models.weights import available_weights, load_model

    return load_model(name) if name in available_weights() else create_model(name)


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return ""


def build_runners(name: str, modes: Sequence[str], batches: Sequence[int], threads: int,
                  tmpdir: Path) -> Dict[str, Callable[[int], Callable[[], object]]]:
    """For one model: mode -> (batch -> zero-arg callable running one forward)."""
    model = _build(name).eval()
    h, w = model.input_size
    inputs = {b: torch.randn(b, 3, h, w) for b in batches}
    runners: Dict[str, Callable[[int], Callable[[], object]]] = {}
    if "eager" in modes:
        runners["eager"] = lambda b, m=model: (lambda x=inputs[b]: m(x))
    if "fold_cl" in modes or "compiled" in modes:
        fast = to_channels_last(fold_bn(model))
        cl = {b: x.contiguous(memory_format=torch.channels_last) for b, x in inputs.items()}
        if "fold_cl" in modes:
            runners["fold_cl"] = lambda b, m=fast: (lambda x=cl[b]: m(x))
        if "compiled" in modes:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                comp = maybe_compile(fast, example=cl[batches[0]])
            if comp is fast:
                logging.warning("%s: torch.compile unavailable (%s); skipping 'compiled'", name,
                                caught[-1].message if caught else "?")
            else:
                runners["compiled"] = lambda b, m=comp: (lambda x=cl[b]: m(x))
    if "onnx" in modes:
        if not onnx_available():
            logging.warning("onnx/onnxruntime not installed; skipping 'onnx' (pip install 'lrface[onnx]')")
        else:
            path = export_onnx(model, tmpdir / f"{name}.onnx", dynamic_batch=True)
            # No spinning: idle ORT workers would otherwise eat CPU from the next timed config.
            sess = OnnxEmbedder(path, threads=threads, allow_spinning=False)
            np_in = {b: x.numpy() for b, x in inputs.items()}
            runners["onnx"] = lambda b, s=sess: (lambda x=np_in[b]: s(x))
    return runners


def time_call(fn: Callable[[], object], min_iters: int, max_iters: int, budget_s: float,
              clock: Callable[[], float] = time.perf_counter) -> List[float]:
    """Seconds per call by ``clock``: at least ``min_iters``, then until ``budget_s`` (wall)
    or ``max_iters``."""
    times: List[float] = []
    start = time.perf_counter()
    while len(times) < max_iters and (len(times) < min_iters or time.perf_counter() - start < budget_s):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return times


def run(models: Sequence[str], batches: Sequence[int], modes: Sequence[str], threads: int, rounds: int,
        warmup: int, min_iters: int, max_iters: int, budget_s: float, ref: str, clock_name: str = "wall"):
    """Benchmark and return a pandas DataFrame (one row per model, mode, batch)."""
    import pandas as pd

    torch.set_num_threads(threads)
    if "compiled" in modes:
        # All FaceModels share one forward code object, and dynamo recompiles it for every
        # (model, batch) pair; past its default limit (8) later models would silently run
        # eager, so allow one entry per pair.
        import torch._dynamo.config as dcfg

        for key in ("recompile_limit", "cache_size_limit"):
            if hasattr(dcfg, key):
                setattr(dcfg, key, max(getattr(dcfg, key), 2 * len(models) * len(batches)))
    clock = time.process_time if clock_name == "cpu" else time.perf_counter
    info = {"commit": _git_commit(), "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "torch": torch.__version__, "threads": threads, "clock": clock_name, "cpu": _cpu_name(),
            "loadavg_start": _loadavg(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = ""
    jobs = []  # (model, mode, batch, callable)
    meta = {}
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for name in models:
            logging.info("preparing %s", name)
            m = _build(name)
            prof = profile(m)
            meta[name] = {"role": m.cfg.role, "input": f"{m.input_size[0]}x{m.input_size[1]}",
                          "params_M": round(prof["params"] / 1e6, 3), "macs_M": round(prof["macs"] / 1e6, 2)}
            for mode, make in build_runners(name, modes, batches, threads, Path(tmp)).items():
                for b in batches:
                    fn = make(b)
                    for _ in range(warmup):
                        fn()
                    jobs.append((name, mode, b, fn))
        samples: Dict[tuple, List[float]] = {}
        for r in range(rounds):
            logging.info("round %d/%d", r + 1, rounds)
            for name, mode, b, fn in jobs:
                samples.setdefault((name, mode, b), []).extend(time_call(fn, min_iters, max_iters, budget_s, clock))
    info["loadavg_end"] = _loadavg()
    rows = []
    for (name, mode, b), ts in samples.items():
        med = statistics.median(ts)
        rows.append({"model": name, **meta[name], "mode": mode, "batch": b, "images_per_s": round(b / med, 1),
                     "ms_per_batch": round(med * 1e3, 3), "iters": len(ts), **info})
    df = pd.DataFrame(rows)
    refs = df[df.model == ref].set_index(["mode", "batch"])["images_per_s"]
    df["x_vs_ref"] = [round(v / refs[(mo, b)], 1) if (mo, b) in refs.index else float("nan")
                      for v, mo, b in zip(df.images_per_s, df["mode"], df.batch)]
    return df


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=None,
                    help="registered names (default: mobilefacenet_y1 if present + all lrstudent*)")
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 256])
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-iters", type=int, default=2)
    ap.add_argument("--max-iters", type=int, default=50)
    ap.add_argument("--budget", type=float, default=1.0, help="seconds per config per round")
    ap.add_argument("--ref", default="mobilefacenet_y1", help="model the x_vs_ref ratios divide by")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: real throughput; cpu: process CPU time, robust to other load but "
                         "only meaningful with --threads 1 (threads waiting at barriers also count)")
    ap.add_argument("--out", default="benchmarks/results/speed.csv")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    models = args.models or ([args.ref] if args.ref in list_models() else []) + list_models("lrstudent*")
    df = run(models, args.batch, args.modes, args.threads, args.rounds, args.warmup, args.min_iters,
             args.max_iters, args.budget, args.ref, args.clock)
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        table = df.pivot_table(index=["model", "input", "params_M", "macs_M"], columns=["batch", "mode"],
                               values="images_per_s", sort=False)
        print(f"images/s ({args.threads} threads, {args.clock} clock, commit {df.commit.iloc[0]}, "
              f"{df.cpu.iloc[0]}, load average {df.loadavg_start.iloc[0]} -> {df.loadavg_end.iloc[0]}):")
        print(table.round(0).to_string())
        if df.x_vs_ref.notna().any():
            print(f"\nthroughput / {args.ref} (same mode and batch):")
            print(df.pivot_table(index="model", columns=["batch", "mode"], values="x_vs_ref", sort=False).to_string())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
