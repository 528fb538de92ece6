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
DOCS = [ROOT / "docs" / "results.md", ROOT / "README.md", ROOT / "lrface" / "weights" / "README.md"]
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
    """Figures measured independently of lrface (their sources are cited in the CSV), typed once."""
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


def _method_table(path: Path, order: Sequence[str] = ()) -> str:
    rows = _rows(path)
    if order:  # rows in reading order (the file keeps the order they were run in)
        rank = {m: k for k, m in enumerate(order)}
        rows = sorted(rows, key=lambda r: rank.get(r["method"], len(rank)))
    res = rows[0]["res"]
    sizes = all("train_faces" in r for r in rows)  # recorded since session 4
    cos = all("train_cos" in r and "val_cos" in r for r in rows)
    body = []
    for r in rows:
        body.append([r["method"]] + ([f"{r['train_identities']:,}", f"{r['train_faces']:,}"] if sizes else [])
                    + [r["epochs"], _pct(r["lr_lr_accuracy"], r["lr_lr_accuracy_std"]),
                       _pct(r["hr_lr_accuracy"], r["hr_lr_accuracy_std"]), _pct(r.get("lr_lr_tar_at_far_1e-3")),
                       _pct(r.get("val_auc"))]
                    + ([f"{r['train_cos']:.3f}", f"{r['val_cos']:.3f}"] if cos else [])
                    + [f"{r['train_seconds']:.0f}", r.get("samples_per_s", ""), r["machine"]])
    naive = RESULTS / "lfw_naive_lr-lr" / "results.json"
    naive_hr = RESULTS / "lfw_naive_hr-lr" / "results.json"
    if naive.is_file():
        a = {x["res"]: x for x in _rows(naive)}.get(res)
        b = {x["res"]: x for x in _rows(naive_hr)}.get(res, {}) if naive_hr.is_file() else {}
        if a:
            body.append(["naive baseline (y1 teacher on upsampled LR)"] + ["", ""] * sizes
                        + ["", _pct(a["accuracy"], a["accuracy_std"]), _pct(b.get("accuracy"), b.get("accuracy_std")),
                           _pct(a.get("tar_at_far_1e-3")), ""] + ["", ""] * cos + ["", "", ""])
    r0 = rows[0]
    head = (["method"] + ["training identities", "training faces"] * sizes
            + ["epochs", f"LFW lr-lr {res} px (%)", "LFW hr-lr, teacher at 112 (%)", "lr-lr TAR@FAR=1e-3 (%)",
               "validation AUC (selection, %)"] + ["train cos to teacher", "val cos to teacher"] * cos + [
            "train wall time (s)", "samples/s", "machine"])
    cmds = sorted({x.get("command", "") for x in rows})
    same = "same seed; training data and budget in the columns" if sizes else \
        "same data and seed; the budget is the epochs column"
    return (_md(head, body) + f"\nStudent `{r0['student']}`, {same}. "
            f"Source: `{path.relative_to(ROOT)}` (commits "
            f"{', '.join(sorted({x['commit'] + (' with uncommitted changes' if x.get('dirty') else '') for x in rows}))}); "
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


def augment_16() -> str:
    return _method_table(RESULTS / "method_table_augment16.json")


def scaling_16() -> str:
    return _method_table(RESULTS / "method_table_scaling16.json",
                         order=["ids25", "ids50", "full12", "long36", "wd1e-3", "wd2e-3", "pins"])


def views_16() -> str:
    return _method_table(RESULTS / "method_table_views16.json")


def selection_proxy_16() -> str:
    path = RESULTS / "selection_proxy_16.json"
    data = json.loads(path.read_text())
    sm, rows = data["summary"], data["rows"]
    top = sorted(rows, key=lambda r: -r["val_auc"])[:8]
    body = [[f"{r['table']}/{r['method']}", _pct(r["val_auc"]), _pct(r["view1_accuracy"]),
             _pct(r["view2_accuracy"], r["view2_accuracy_std"])] for r in top]
    return (f"Spearman rank correlation with LFW View 2 accuracy over {sm['runs']} runs at 16 px: "
            f"validation AUC {sm['spearman_val_auc_vs_view2']:.3f}, View 1 accuracy "
            f"{sm['spearman_view1_vs_view2']:.3f}, View 1 AUC {sm['spearman_view1_auc_vs_view2']:.3f}. "
            f"The eight runs with the highest validation AUC:\n\n"
            + _md(["run", "validation AUC (%)", "LFW View 1 (%)", "LFW View 2 (%)"], body)
            + _source(path, [sm]))


def zoo_y1() -> str:
    """The zoo of sessions 3-4 (students of the y1 teacher; no longer shipped), for comparison."""
    path = RESULTS / "zoo_y1.json"
    rows = sorted(_rows(path), key=lambda r: r["res"])
    naive = {m: {x["res"]: x for x in _rows(RESULTS / f"lfw_naive_{m}" / "results.json")} for m in ("lr-lr", "hr-lr")}
    teacher = {x["model"]: x for x in _rows(RESULTS / "lfw_teacher" / "results.json")}
    y1 = next((v for k, v in teacher.items() if "y1" in k), None)
    body = []
    for r in rows:
        hr = r["res"] >= 112
        a, b = naive["lr-lr"].get(r["res"], {}), naive["hr-lr"].get(r["res"], {})
        if hr and y1 is not None:
            a = y1
        body.append([f"`{r['model']}`", "112 (HR)" if hr else r["res"],
                     _pct(r["lr_lr_accuracy"], r["lr_lr_accuracy_std"]), _pct(a.get("accuracy"), a.get("accuracy_std")),
                     "" if hr else _pct(r.get("hr_lr_accuracy"), r.get("hr_lr_accuracy_std")),
                     "" if hr else _pct(b.get("accuracy"), b.get("accuracy_std")),
                     _pct(r.get("lr_lr_tar_at_far_1e-3")), _pct(r.get("val_auc")), f"{r['train_seconds'] / 60:.0f}"])
    head = ["model (y1 space, not shipped)", "face size (px)", "LFW lr-lr (%)", "naive lr-lr (%)",
            "LFW hr-lr, its HR model at 112 (%)", "naive hr-lr, teacher at 112 (%)", "lr-lr TAR@FAR=1e-3 (%)",
            "validation AUC (%)", "train (min)"]
    return (_md(head, body) + "\nLFW View 2, 10 folds, flip-TTA, faces degraded with `area`. The naive columns are the "
            "y1 teacher on the same LR faces upsampled back to 112 (for the HR row: the teacher itself at 112)."
            + _source(path, rows))


def _zoo_rows() -> List[Dict[str, Any]]:
    order = {"lrface-hr": 0, "lrface-lr": 1}
    return sorted(_rows(RESULTS / "zoo.json"), key=lambda r: (order.get(r["model"], 2), r.get("res", 0)))


def zoo() -> str:
    """The shipped models: what each is, its size, LFW at its sizes, its calibrated threshold."""
    path = RESULTS / "zoo.json"
    rows = _zoo_rows()
    body = []
    for r in rows:
        sizes = r["sizes"]
        for s in sizes:
            key = s if r["kind"] == "lr" else 112
            thr = ((r.get("thresholds_by_res") or {}).get(str(s)) or r.get("thresholds") or {}).get("1e-3")
            thr_hr = ((r.get("thresholds_hr_by_res") or {}).get(str(s)) or {}).get("1e-3")
            body.append([f"`{r['model']}`", r["kind"].upper(), f"{r['params_M']:.2f}", "112 (HR)" if r["kind"] == "hr" else s,
                         _pct(r.get(f"lr_lr_{key}_accuracy"), r.get(f"lr_lr_{key}_accuracy_std")),
                         _pct(r.get(f"hr_lr_{key}_accuracy"), r.get(f"hr_lr_{key}_accuracy_std")),
                         _pct(r.get(f"lr_lr_{key}_tar_at_far_1e-3")),
                         "" if thr is None else f"{thr:.3f}", "" if thr_hr is None else f"{thr_hr:.3f}",
                         f"{r['train_seconds'] / 60:.0f}" if s == sizes[0] else ""])
    head = ["model", "kind", "params (M)", "face size (px)", "LFW lr-lr (%)", "LFW hr-lr, `lrface-hr` at 112 (%)",
            "lr-lr TAR@FAR=1e-3 (%)", "threshold @ FAR 1e-3", "hr-lr threshold @ FAR 1e-3", "train (min)"]
    return (_md(head, body) + "\nLFW View 2, 10 folds, flip-TTA, faces degraded with `area`; never selected on. "
            "Thresholds (cosine) are calibrated on held-out CelebA identities, never on LFW. `lrface-hr` is not "
            "trained (dlib's weights, converted)." + _source(path, rows))


LFW_SIZES = (8, 12, 16, 20, 24, 32)


def lfw_sizes() -> str:
    """One table: LFW View 2 lr-lr and hr-lr at every size, for the naive baselines, the adapted
    model, the compact students and the earlier (y1) zoo."""
    def by_res(path: Path) -> Dict[int, Dict[str, Any]]:
        return {int(x["res"]): x for x in _rows(path)} if path.is_file() else {}

    zoo_rows = {r["model"]: r for r in _zoo_rows()} if (RESULTS / "zoo.json").is_file() else {}
    y1_zoo = {int(r["res"]): r for r in _rows(RESULTS / "zoo_y1.json")}
    lines: List[Sequence[Any]] = []
    naive_y1 = (by_res(RESULTS / "lfw_naive_lr-lr" / "results.json"), by_res(RESULTS / "lfw_naive_hr-lr" / "results.json"))
    naive_dlib = (by_res(RESULTS / "lfw_naive_dlib_lr-lr" / "results.json"),
                  by_res(RESULTS / "lfw_naive_dlib_hr-lr" / "results.json"))

    def cell(row: Optional[Dict[str, Any]], acc: str = "accuracy", std: str = "accuracy_std") -> str:
        return "" if not row else _pct(row.get(acc), row.get(std))

    for mode_i, mode in enumerate(("lr-lr", "hr-lr")):
        key = mode.replace("-", "_")
        lines.append([f"naive y1 (upsampled to 112; HR side: y1 at 112), {mode}"]
                     + [cell(naive_y1[mode_i].get(s)) for s in LFW_SIZES])
        lines.append([f"naive dlib, `lrface-hr` on the upsampled face, {mode}"]
                     + [cell(naive_dlib[mode_i].get(s)) for s in LFW_SIZES])
        lr = zoo_rows.get("lrface-lr")
        if lr:
            lines.append([f"**`lrface-lr`** (adapted), {mode}"]
                         + [cell(lr, f"{key}_{s}_accuracy", f"{key}_{s}_accuracy_std") for s in LFW_SIZES])
        students = {int(r["res"]): r for n, r in zoo_rows.items() if n.startswith("lrface-s")}
        if students:
            lines.append([f"compact students `lrface-s<size>`, {mode}"]
                         + [cell(students.get(s), f"{key}_{s}_accuracy", f"{key}_{s}_accuracy_std") for s in LFW_SIZES])
        lines.append([f"earlier zoo (y1 space, not shipped), {mode}"]
                     + [cell(y1_zoo.get(s), f"{key}_accuracy", f"{key}_accuracy_std") for s in LFW_SIZES])
    head = ["model, mode"] + [f"{s} px (%)" for s in LFW_SIZES]
    src = [p for p in (RESULTS / "zoo.json", RESULTS / "lfw_naive_dlib_lr-lr" / "results.json",
                       RESULTS / "lfw_naive_lr-lr" / "results.json", RESULTS / "zoo_y1.json") if p.is_file()]
    return (_md(head, lines) + "\nLFW View 2, 10 folds, flip-TTA, faces degraded with `area` (exact box average); "
            "`hr-lr`: one face at 112 px embedded by `lrface-hr` (for naive y1 and the earlier zoo: by their own HR "
            "model, another embedding space), the other at the size. Reported, never selected on. Sources: "
            + ", ".join(f"`{p.relative_to(ROOT)}`" for p in src) + ".\n")


def adapt_dlib() -> str:
    """Selecting the adaptation recipe on validation."""
    path = RESULTS / "adapt_dlib.json"
    rows = _rows(path)
    body = [[r["variant"], r["input_size"], ", ".join(sorted(json.loads(r["losses"]))), f"{r['lr']:g}",
             r["total_steps"], _pct(r["val_auc"]), _pct(r.get("val_auc_8")), _pct(r.get("val_auc_16")),
             _pct(r.get("val_auc_24")), _pct(r.get("val_hr_auc_16")), f"{r['train_seconds']:.0f}", r["samples_per_s"]]
            for r in rows]
    return (_md(["variant", "input (px)", "losses", "lr", "steps of 64", "val AUC, mean (selection, %)", "8 px", "16 px",
                 "24 px", "hr-lr 16 px", "train (s)", "samples/s"], body)
            + f"\nValidation: {rows[0]['val_faces']} held-out CelebA faces, {rows[0]['val_pairs']} pairs, flip-TTA; "
            f"training: {rows[0]['train_faces']:,} faces of {rows[0]['train_identities']:,} identities after the "
            "overlap guard." + _source(path, rows))


def hr_port() -> str:
    path = RESULTS / "hr_port.json"
    r = json.loads(path.read_text())
    body = [[k, _pct(v["accuracy"], v["accuracy_std"]), _pct(v["auc"]), _pct(v["tar_at_far_1e-3"]),
             f"{(r['fp32_bytes'] if k == 'fp32' else r['shipped_bytes']) / 1e6:.1f}"] for k, v in r["lfw_112_flip"].items()]
    return (_md(["`lrface-hr` weights", "LFW View 2 at 112 (%)", "AUC (%)", "TAR@FAR=1e-3 (%)", "file (MB)"], body)
            + f"\n{r['params']:,} parameters; half precision moves LFW by {r['fp16_shift_points']:.3f} points "
            f"(limit {r['max_shift_points']}); ArcFace-template crops warped onto dlib's chip, flip-TTA."
            + _source(path, [r]))


def overlap_dlib() -> str:
    path = RESULTS / "overlap_dlib.json"
    r = json.loads(path.read_text())
    body = [[t["threshold"], _pct(t["same_person_caught"]), f"{t['training_identities_dropped']:,}",
             f"{t['training_faces_dropped']:,}"] for t in r["thresholds"]]
    return (_md(["centred centroid cosine >=", "LFW same-person centroid pairs caught (%)",
                 f"CelebA identities dropped (of {r['training_identities']:,})",
                 f"faces dropped (of {r['training_faces']:,})"], body) + _source(path, [r]))


def chip_border() -> str:
    path = RESULTS / "chip_border_view1.json"
    r = json.loads(path.read_text())
    body = [[k, _pct(v["accuracy"], v["accuracy_std"]), f"{100 * v['auc']:.3f}"] for k, v in r["variants"].items()]
    return _md(["dlib's chip cut from a 112 crop", "LFW View 1 accuracy (%)", "AUC (%)"], body) + _source(path, [r])


def students_16() -> str:
    return _method_table(RESULTS / "method_table_students16.json")


def speed_shipped(path: Path = RESULTS / "speed_shipped.csv") -> str:
    df = pd.read_csv(path)
    modes = [m for m in ("eager", "fold_cl", "onnx") if m in set(df["mode"])]
    names = {"eager": "eager", "fold_cl": "BN folded + channels_last (what embed() runs)", "onnx": "ONNX Runtime"}
    ref_name = "mobilefacenet_y1" if (df["model"] == "mobilefacenet_y1").any() else "lrface-hr"
    ref = df[df["model"] == ref_name]
    body = []
    for (model, batch), g in df.groupby(["model", "batch"], sort=False):
        vals = {r.mode: r.images_per_s for r in g.itertuples()}
        t = ref[(ref["batch"] == batch) & (ref["mode"] == "fold_cl")]["images_per_s"]
        ratio = f"{vals.get('fold_cl', float('nan')) / float(t.iloc[0]):.0f}x" if len(t) and "fold_cl" in vals else ""
        first = g.iloc[0]
        body.append([model, first["input"], f"{first['params_M']:.3f}", f"{first['macs_M']:.1f}", batch]
                    + [f"{vals[m]:,.0f}" if m in vals else "" for m in modes] + [ratio])
    r = df.iloc[0]
    meta = (f"\nSource: `{path.relative_to(ROOT)}`, commit {r['commit']}, {str(r['date'])[:10]}, torch {r['torch']}, "
            f"onnxruntime {r.get('onnxruntime', '')}, {r['threads']} threads, load average at start "
            f"{r['loadavg_start']}, end {r.get('loadavg_end', '')}; command: `OMP_WAIT_POLICY=PASSIVE python "
            f"benchmarks/speed.py --models {' '.join(dict.fromkeys(df['model']))} --modes {' '.join(modes)} --threads "
            f"{r['threads']} --ref {ref_name} --out {path.relative_to(ROOT)}`. The ratio column: BN-folded "
            f"throughput over {ref_name}'s at the same batch.\n")
    return _md(["model", "input", "params (M)", "MACs (M)", "batch"] + [names[m] + " (faces/s)" for m in modes]
               + [f"vs {ref_name}"], body) + meta


def quality_16(path: Path = RESULTS / "quality_16.json") -> str:
    r = json.loads(path.read_text())
    body = [["all pairs", 6000, _pct(r["all_accuracy"], r["all_accuracy_std"])],
            [f"lowest-quality {100 * r['drop']:.0f}% of pairs dropped ({r['dropped_genuine']} genuine, "
             f"{r['dropped_impostor']} impostor)", r["quality_kept_pairs"],
             _pct(r["quality_kept_accuracy"], r["quality_kept_accuracy_std"])],
            [f"control: a random {100 * r['drop']:.0f}% dropped (mean of 20)", r["quality_kept_pairs"],
             _pct(r["random_kept_accuracy"])]]
    return (_md([f"LFW View 2 at {r['res']} px ({', '.join(r['models'])}, flip-TTA)", "pairs", "10-fold accuracy (%)"],
                body) + _source(path, [r]))


def photo_sizes(path: Path = RESULTS / "photo_sizes.json") -> str:
    rows = _rows(path)
    body = [[r["face_px"], f"{100 * r['found']:.1f}", ", ".join(f"{k}: {v}" for k, v in sorted(r["models"].items())),
             f"{r['measured_px_median']:.1f}", f"{100 * r['upsampled']:.0f}", r["pairs"],
             _pct(r["accuracy"], r["accuracy_std"]), f"{1000 * r['seconds_per_photo']:.0f}"] for r in rows]
    return (_md(["face in photo (px)", "faces found (%)", "models chosen (faces)", "measured size (median px)",
                 "found on the enlarged photo (%)", "LFW pairs", "10-fold accuracy (%)", "ms per photo"], body)
            + _source(path, rows))


def search_lfw_16(path: Path = RESULTS / "search_lfw_16.json") -> str:
    r = json.loads(path.read_text())
    body = [[r["gallery_identities"], r["searched"], f"{r['res']} px", _pct(r["rank1"]), _pct(r["rank5"]),
             _pct(r["accepted_at_far_1e-3"]), r["ms_per_probe"], r["command_seconds"]]]
    return (_md(["gallery identities (1 HR photo each)", "probes", "probe size", "rank-1 (%)", "rank-5 (%)",
                 "probes accepted at FAR 1e-3 (%)", "ms per probe (embed + search)", "whole command (s)"], body)
            + _source(path, [r]))


def zoo_surveillance(path: Path = RESULTS / "zoo_surveillance.json") -> str:
    rows = _rows(path)
    by = {(r["res"], r["kind"]): r for r in rows}
    body = []
    for res in sorted({r["res"] for r in rows}):
        a, b = by.get((res, "shipped"), {}), by.get((res, "naive"), {})
        body.append([res, f"`{a.get('model', '')}` (gallery `{a.get('gallery_model', '')}`)", _pct(a.get("rank1")),
                     _pct(a.get("rank5")), _pct(b.get("rank1")), _pct(b.get("rank5")), a.get("n_gallery", ""),
                     a.get("n_probes", "")])
    return (_md(["probe size (px)", "shipped models", "rank-1 (%)", "rank-5 (%)", "naive rank-1 (%)",
                 "naive rank-5 (%)", "gallery", "probes"], body) + _source(path, rows))


def faceness() -> str:
    path = RESULTS / "faceness_check.json"
    r = json.loads(path.read_text())
    body = [[k.split(": ", 1)[0], k.split(": ", 1)[1], v["n"], _pct(v["rate"])] for k, v in r["by_kind"].items()]
    body.append(["**all faces kept**", "", r["faces"], _pct(r["faces_kept"])])
    body.append(["**all non-faces rejected**", "", r["nonfaces"], _pct(r["nonfaces_rejected"])])
    return (_md(["", "crops of 12-32 px", "n", "rate (%)"], body)
            + f"\nThreshold {r['threshold']}; a 16 px gray patch: {r['gray_16px']}; a 16 px noise patch: "
            f"{r['noise_16px']}." + _source(path, [r]))


def zoo_choice(path: Path = RESULTS / "zoo_choice_view1.json") -> str:
    rows = _rows(path)
    body = [[r["face_px"], f"`{r['student']}`" + (f" at {r['student_res']} px" if "student_res" in r else ""),
             _pct(r["student_accuracy"]), _pct(r["student_auc"]),
             _pct(r["hr_model_accuracy"]), _pct(r["hr_model_auc"])] for r in rows]
    return (_md(["face size (px)", "LR model (size it sees)", "LR accuracy (%)", "LR AUC (%)",
                 "`lrface-hr` on the face upsampled: accuracy (%)", "`lrface-hr` AUC (%)"], body)
            + _source(path, rows))



def operating_points() -> str:
    """TAR and the FAR reached on LFW View 2 at the shipped (CelebA-calibrated) thresholds."""
    path = RESULTS / "operating_points.json"
    rows = _rows(path)
    fars = ("0.01", "0.001", "0.0001")
    body = [[f"`{r['model']}`", r["res"], r["mode"]]
            + [f"{_pct(r[f'tar_{f}'])} / {100 * r[f'lfw_far_{f}']:.2f}" for f in fars] for r in rows]
    return (_md(["model", "face size (px)", "mode"] + [f"FAR {f} threshold: TAR / LFW FAR (%)" for f in ("1e-2", "1e-3", "1e-4")],
                body)
            + "\nLFW View 2 (6,000 pairs, flip-TTA, `area`); thresholds as shipped (calibrated on held-out CelebA "
            "identities, never on LFW)." + _source(path, rows))


def new_user_trial() -> str:
    """The new-user trial cases of issue 16, as lrface handles them today."""
    path = RESULTS / "new_user_trial.json"
    r = json.loads(path.read_text())
    c = r["crops"]
    body = [[k, f"{v['embedded']}/{v['of']}", v["genuine_mean"], v["impostor_mean"],
             _pct(v["genuine_accepted_far1e-3"]), _pct(v["impostor_accepted_far1e-3"]),
             ", ".join(f"`{m}`" for m in v["models"])]
            for k, v in c.items() if isinstance(v, dict) and "genuine_mean" in v and "embedded" in v]
    table = _md(["photo B as", "embedded", "genuine mean cosine", "impostor mean cosine",
                 "genuine accepted at FAR 1e-3 (%)", "impostors accepted (%)", "models"], body)
    cliff = c["margin crop resized, genuine mean by size"]
    lines = ["- the margin crop resized to 30-36 px, mean genuine cosine: "
             + ", ".join(f"{k} px {v['genuine_mean']}" for k, v in cliff.items())]
    for k, v in r["patches"].items():
        lines.append(f"- {k}: " + (v if isinstance(v, str) else
                                   ("taken as a face" if v["accepted_as_face"] else f"rejected ({v['why']})")))
    b = r["batch"]
    default = b["default on_no_face='raise'"]
    lines.append(f"- a batch of a photo and an unreadable file, `on_no_face='nan'`: {b['rows_embedded']} of "
                 f"{b['rows']} rows embedded, the bad row says `{b['bad_row_error']}`; with the default "
                 f"`on_no_face='raise'`: {default}")
    for k, v in r["cli"].items():
        if isinstance(v, dict):
            msg = v["stderr_last"] or v["stdout_first"]
            lines.append(f"- `{k}`: exit {v['exit']}; `{msg}`")
        else:
            lines.append(f"- {k}: {v}")
    return (table + f"\nPins photos, {c['identities']} identities, {c['pairs_used']} with a face detected on both "
            "photos; photo A embedded with `lrface.embed(path)` (found, aligned, `lrface-hr`).\n\n"
            + "\n".join(lines) + "\n" + _source(path, [r]))

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
    "augment_16": augment_16,
    "scaling_16": scaling_16,
    "views_16": views_16,
    "selection_proxy_16": selection_proxy_16,
    "zoo": zoo,
    "zoo_y1": zoo_y1,
    "lfw_sizes": lfw_sizes,
    "adapt_dlib": adapt_dlib,
    "hr_port": hr_port,
    "overlap_dlib": overlap_dlib,
    "chip_border": chip_border,
    "students_16": students_16,
    "speed_shipped": speed_shipped,
    "speed_shipped_y1": lambda: speed_shipped(RESULTS / "speed_shipped_y1.csv"),
    "quality_16_y1": lambda: quality_16(RESULTS / "quality_16_y1.json"),
    "photo_sizes_y1": lambda: photo_sizes(RESULTS / "photo_sizes_y1.json"),
    "search_lfw_16_y1": lambda: search_lfw_16(RESULTS / "search_lfw_16_y1.json"),
    "zoo_surveillance_y1": lambda: zoo_surveillance(RESULTS / "zoo_surveillance_y1.json"),
    "zoo_choice_y1": lambda: zoo_choice(RESULTS / "zoo_choice_view1_y1.json"),
    "faceness": faceness,
    "quality_16": quality_16,
    "photo_sizes": photo_sizes,
    "search_lfw_16": search_lfw_16,
    "zoo_surveillance": zoo_surveillance,
    "zoo_choice": zoo_choice,
    "operating_points": operating_points,
    "new_user_trial": new_user_trial,
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
