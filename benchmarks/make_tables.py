"""Regenerate the results tables of ``docs/results.md`` (and the README) from result files.

Every published figure lives in a committed file under ``benchmarks/results/`` (written by
``lrface-bench``, ``benchmarks/speed.py``, ``benchmarks/degrade_speed.py`` ...), with the
commit, dirty flag, date and command that produced it. This script renders those files into
the blocks between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->`` markers of the docs;
the prose around the blocks is written by hand, the numbers never are.

Usage::

    python benchmarks/make_tables.py            # rewrite the blocks in place
    python benchmarks/make_tables.py --check    # exit 1 if a doc is out of date (used by tests)
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = [ROOT / "docs" / "results.md", ROOT / "README.md"]
BLOCK = re.compile(r"(<!-- begin: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def _pct(x: Any, std: Any = None) -> str:
    if x is None or (isinstance(x, float) and pd.isna(x)):
        return ""
    s = f"{100 * float(x):.2f}"
    return f"{s} +- {100 * float(std):.2f}" if std is not None and not pd.isna(std) else s


def _rows(path: Path) -> List[Dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"result file {path.relative_to(ROOT)} is missing: run the command in docs/results.md")
    return json.loads(path.read_text())


def _source(path: Path, rows: Sequence[Dict[str, Any]]) -> str:
    r = rows[0]
    dirty = " (uncommitted changes)" if r.get("dirty") else ""
    cmds = sorted({str(x.get("command")) for x in rows if x.get("command")})
    cmd = "; ".join(f"`{c}`" for c in cmds) or "n/a"
    return (f"\nSource: `{path.relative_to(ROOT)}`, commit {r.get('commit', '?')}{dirty}, "
            f"{str(r.get('date', '?'))[:10]}; command: {cmd}\n")


def _md(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def lfw_teacher() -> str:
    path = RESULTS / "lfw_teacher" / "results.json"
    rows = _rows(path)
    body = [[r["model"], r.get("flip"), _pct(r["accuracy"], r["accuracy_std"]), _pct(r.get("tar_at_far_1e-3")),
             _pct(r.get("auc"))] for r in rows]
    return _md(["model", "flip-sum", "LFW 10-fold accuracy (%)", "TAR@FAR=1e-3 (%)", "AUC (%)"], body) + _source(path, rows)


def lfw_naive() -> str:
    paths = {m: RESULTS / f"lfw_naive_{m}" / "results.json" for m in ("lr-lr", "hr-lr")}
    data = {m: {r["res"]: r for r in _rows(p)} for m, p in paths.items()}
    refs = _references()
    body = []
    for res in sorted(data["lr-lr"]):
        a, b = data["lr-lr"][res], data["hr-lr"].get(res, {})
        body.append([res, _pct(a["accuracy"], a["accuracy_std"]), _pct(a.get("tar_at_far_1e-3")), _pct(a.get("auc")),
                     _pct(b.get("accuracy"), b.get("accuracy_std")), _pct(b.get("tar_at_far_1e-3")),
                     refs.get(("lfw", "lr-lr", res), "")])
    head = ["res (px)", "lr-lr accuracy (%)", "lr-lr TAR@1e-3", "lr-lr AUC", "hr-lr accuracy (%)",
            "hr-lr TAR@1e-3", "independent lr-lr reference (%)"]
    src = "".join(_source(p, _rows(p)) for p in paths.values())
    return _md(head, body) + src


def _references() -> Dict[Any, str]:
    """Independently measured figures (``../shared/REFERENCES.md``), typed once in a CSV."""
    f = RESULTS / "references.csv"
    if not f.is_file():
        return {}
    df = pd.read_csv(f)
    return {(r.dataset, r.mode, int(r.res)): f"{100 * r.accuracy:.2f}" for r in df.itertuples()}


def embed_vs_bench() -> str:
    path = RESULTS / "embed_vs_bench_view1_16.json"
    r = json.loads(path.read_text()) if path.is_file() else None
    if r is None:
        raise FileNotFoundError(f"{path.relative_to(ROOT)} is missing")
    body = [["`lrface.embed(..., res=16, align=False)`", f"{r['auc_embed']:.4f}", _pct(r["accuracy_embed"])],
            ["`lrface-bench` (LFW protocol)", f"{r['auc_bench']:.4f}", _pct(r["accuracy_bench"])]]
    return (_md(["path", f"AUC ({r['pairs']}, {r['res']} px)", "accuracy (%)"], body)
            + f"\nLargest embedding difference between the two paths over {r['images']} images: "
              f"{r['max_abs_embedding_difference']:.3g}.\n" + _source(path, [r]))


def speed() -> str:
    path = RESULTS / "speed.csv"
    df = pd.read_csv(path)
    modes = [m for m in ("eager", "fold_cl", "compiled", "onnx") if m in set(df["mode"])]
    names = {"eager": "eager", "fold_cl": "BN folded + channels_last", "compiled": "+ torch.compile",
             "onnx": "ONNX Runtime"}
    body = []
    for (model, batch), g in df.groupby(["model", "batch"], sort=False):
        vals = {r.mode: f"{r.images_per_s:,.0f}" for r in g.itertuples()}
        first = g.iloc[0]
        body.append([f"{model} ({first['role']})", first["input"], f"{first['params_M']:.3f}", f"{first['macs_M']:.1f}",
                     batch] + [vals.get(m, "") for m in modes])
    r = df.iloc[0]
    meta = (f"\nSource: `{path.relative_to(ROOT)}`, commit {r['commit']}, {str(r['date'])[:10]}, torch {r['torch']}, "
            f"{r['threads']} threads, load average at start {r['loadavg_start']}.\n")
    return _md(["model", "input", "params (M)", "MACs (M)", "batch"] + [names[m] + " (faces/s)" for m in modes], body) + meta


def degrade_speed() -> str:
    path = RESULTS / "degrade_speed.csv"
    df = pd.read_csv(path)
    body = [[r.note if isinstance(r.note, str) else "", r.preset, r.res, f"{r.faces_per_s:,.0f}", r.loadavg_start, r.commit]
            for r in df.itertuples()]
    return (_md(["code", "preset", "res (px)", "faces/s (1 thread)", "load average at start", "commit"], body)
            + f"\nSource: `{path.relative_to(ROOT)}`; command: `python benchmarks/degrade_speed.py` (batch of "
              f"{int(df['batch'].iloc[-1])} faces, best of the rounds; `unknown` commit: the original code run from "
              "a `git archive` copy, as the note says).\n")


def prepare() -> str:
    files = sorted(RESULTS.glob("prepare_*.json"))
    if not files:
        raise FileNotFoundError("no benchmarks/results/prepare_*.json: run benchmarks/prepare_check.py")
    rs = [json.loads(f.read_text()) for f in files]
    body = [[f"`{r['src']}`" + (f" (first {r['limit']})" if r.get("limit") else ""), r["rows"], r["ok"], r["no_face"],
             r["unreadable"], f"{r['ok_outputs_opened_112x112']} / {r['ok']}", f"{r['images_per_second']:.1f}",
             r["commit"] + (" (dirty)" if r.get("dirty") else ""), f"`{r['command']}`"] for r in rs]
    return _md(["source", "images", "ok", "no_face", "unreadable", "ok rows whose DST/output opens as 112x112",
                "images/s", "commit", "command"], body)


def method_table_16() -> str:
    return _method_table(RESULTS / "method_table_methods16.json")


def recipe_16() -> str:
    return _method_table(RESULTS / "method_table_recipe16.json")


def recipe_8() -> str:
    return _method_table(RESULTS / "method_table_recipe8.json")


def capacity_16() -> str:
    return _method_table(RESULTS / "method_table_capacity16.json")


def _method_table(path: Path) -> str:
    rows = _rows(path)
    res = rows[0]["res"]
    body = []
    for r in rows:
        body.append([r["method"], r["epochs"], _pct(r["lr_lr_accuracy"], r["lr_lr_accuracy_std"]),
                     _pct(r["hr_lr_accuracy"], r["hr_lr_accuracy_std"]), _pct(r.get("lr_lr_tar_at_far_1e-3")),
                     _pct(r.get("val_auc")), f"{r['train_seconds']:.0f}", r.get("samples_per_s", ""), r["machine"]])
    naive = RESULTS / "lfw_naive_lr-lr" / "results.json"
    naive_hr = RESULTS / "lfw_naive_hr-lr" / "results.json"
    if naive.is_file():
        a = {x["res"]: x for x in _rows(naive)}.get(res)
        b = {x["res"]: x for x in _rows(naive_hr)}.get(res, {}) if naive_hr.is_file() else {}
        if a:
            body.append(["naive baseline (y1 teacher on upsampled LR)", "", _pct(a["accuracy"], a["accuracy_std"]),
                         _pct(b.get("accuracy"), b.get("accuracy_std")), _pct(a.get("tar_at_far_1e-3")), "", "", "",
                         ""])
    r0 = rows[0]
    head = ["method", "epochs", f"LFW lr-lr {res} px (%)", "LFW hr-lr, teacher at 112 (%)", "lr-lr TAR@FAR=1e-3 (%)",
            "validation AUC (selection, %)", "train wall time (s)", "samples/s", "machine"]
    cmds = sorted({x.get("command", "") for x in rows})
    return (_md(head, body) + f"\nStudent `{r0['student']}`, same data and seed; the budget is the epochs column. "
            f"Source: `{path.relative_to(ROOT)}` (commits {', '.join(sorted({x['commit'] for x in rows}))}); "
            f"command: {'; '.join(f'`{c}`' for c in cmds)}\n")


def train_speed() -> str:
    path = RESULTS / "train_speed_16.json"
    rows = _rows(path)
    body = [[r["teacher"], r["student"], r["batch_size"], f"{r['samples_per_s']:,.0f}", f"{r['epoch_seconds']:,.0f}",
             r["train_faces"]] for r in rows]
    r = rows[0]
    return (_md(["teacher outputs", "student", "batch", "training samples/s", "wall time per epoch (s)",
                 "faces per epoch"], body)
            + f"\nThe cache makes a step {r['speedup_from_cache']}x faster; building it once took "
              f"{r['cache_build_seconds']:.0f} s ({r['cache_build_forwards_per_s']:.0f} teacher forwards/s, "
              f"{r['pack_faces']} faces x 2 views)." + _source(path, rows))


TABLES: Dict[str, Callable[[], str]] = {
    "lfw_teacher": lfw_teacher,
    "lfw_naive": lfw_naive,
    "embed_vs_bench": embed_vs_bench,
    "speed": speed,
    "degrade_speed": degrade_speed,
    "prepare": prepare,
    "method_table_16": method_table_16,
    "capacity_16": capacity_16,
    "recipe_16": recipe_16,
    "recipe_8": recipe_8,
    "train_speed": train_speed,
}


def render(text: str, tables: Optional[Dict[str, Callable[[], str]]] = None) -> str:
    """``text`` with every marked block replaced by its freshly rendered table."""
    tables = TABLES if tables is None else tables

    def sub(m: "re.Match[str]") -> str:
        name = m.group("name")
        if name not in tables:
            raise KeyError(f"unknown table {name!r} in a docs block; known: {', '.join(sorted(tables))}")
        return m.group(1) + tables[name]() + m.group(4)

    return BLOCK.sub(sub, text)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only check that the docs are up to date")
    args = p.parse_args(argv)
    stale = []
    for doc in DOCS:
        if not doc.is_file():
            continue
        old = doc.read_text()
        new = render(old)
        if new != old:
            stale.append(doc)
            if not args.check:
                doc.write_text(new)
    for doc in stale:
        print(f"{'out of date' if args.check else 'updated'}: {doc.relative_to(ROOT)}")
    if args.check and stale:
        print("run: python benchmarks/make_tables.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
