"""``lrface-demo``: surveillance-size faces verified and searched with the shipped models, then
the whole face pipeline on synthetic data; no dataset or download needed.

Part 1 (:mod:`lrface.demo_photos`): two public-domain portraits that matplotlib and
scikit-image ship (``pip install "lrface[demo]"``) are the ID photos; camera-like frames with
faces 16 and 24 px across and 12-16 px surveillance crops of them are verified against both
and searched in the gallery; it prints scores, decisions (calibrated threshold at FAR 1e-3),
the model chosen for each face and its quality score.

Part 2, the pipeline on synthetic faces:

1. writes a raw identity-folder dataset of synthetic "photos" (faces at random position,
   scale and rotation) with their true landmarks;
2. runs ``lrface-prepare`` on it twice: with MTCNN detection, and with the known landmarks;
   reports the status counts and how far detected landmarks are from the truth;
3. degrades aligned faces with every preset at 8..32 px, times the batched degradation and
   writes a contact sheet ``degradations.png``;
4. writes ``demo.json`` with every figure it printed.

Example::

    lrface-demo --out out/demo            # both parts
    lrface-demo --only recognition        # part 1 only
"""
from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from lrface.cli.common import ArgumentParser, positive_int, run_cli, setup_logging

RESOLUTIONS = (8, 12, 16, 24, 32)


def _landmark_error(raw: Path, aligned: Path) -> Optional[float]:
    """Mean distance (px, source image) between detected and true landmarks over ok rows."""
    truth: Dict[str, np.ndarray] = {}
    with open(raw / "landmarks.csv", newline="") as f:
        for r in csv.DictReader(f):
            truth[r["path"]] = np.array([[float(r[f"x{i}"]), float(r[f"y{i}"])] for i in range(1, 6)])
    errs: List[float] = []
    with open(aligned / "manifest.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["status"] == "ok" and r["source"] in truth:
                det = np.array(r["landmarks"].split(), dtype=float).reshape(5, 2)
                errs.append(float(np.linalg.norm(det - truth[r["source"]], axis=1).mean()))
    return float(np.mean(errs)) if errs else None


def _contact_sheet(faces: np.ndarray, path: Path) -> List[str]:
    """Rows = presets, columns = resolutions (upsampled to 112 for viewing)."""
    from lrface.face.degrade import degrade, list_presets

    presets = list_presets()
    tiles = []
    for name in presets:
        row = [faces[0]]
        for r in RESOLUTIONS:
            row.append(degrade(faces[0], r, name, seed=0, upsample=112))
        tiles.append(np.concatenate(row, axis=1))
    sheet = np.concatenate(tiles, axis=0)
    label_w = 120
    canvas = np.full((sheet.shape[0] + 20, sheet.shape[1] + label_w, 3), 255, np.uint8)
    canvas[20:, label_w:] = sheet
    for i, name in enumerate(presets):
        cv2.putText(canvas, name, (4, 20 + i * 112 + 60), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for j, title in enumerate(["HR"] + [f"{r}px" for r in RESOLUTIONS]):
        cv2.putText(canvas, title, (label_w + j * 112 + 40, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    from lrface.face.io import write_image

    write_image(path, canvas)
    return presets


def run_demo(out: Path, identities: int, images: int, workers: int, seed: int) -> Dict[str, object]:
    from lrface.data.prepare import PrepareSettings, prepare_dataset
    from lrface.data.synthetic import SyntheticFaces, write_identity_folders
    from lrface.face.degrade import degrade

    out.mkdir(parents=True, exist_ok=True)
    report: Dict[str, object] = {"identities": identities, "images_per_identity": images, "seed": seed}

    raw = out / "raw"
    t0 = time.perf_counter()
    write_identity_folders(raw, num_identities=identities, images_per_identity=images, seed=seed, scene=True)
    print(f"[1/3] wrote {identities * images} synthetic photos to {raw} ({time.perf_counter() - t0:.1f}s)")

    det = prepare_dataset(raw, out / "aligned", workers=workers, progress=False)
    known = prepare_dataset(raw, out / "aligned_known",
                            settings=PrepareSettings(landmarks_file=str(raw / "landmarks.csv")),
                            workers=1, progress=False)
    err = _landmark_error(raw, out / "aligned")
    print(f"[2/3] prepare with MTCNN detection: {det.format()}")
    print(f"      prepare with known landmarks:  {known.format()}")
    if err is not None:
        print(f"      detected vs true landmarks: mean error {err:.2f} px")
    report["prepare_detect"] = {"counts": det.counts, "images_per_second": det.images_per_second,
                                "landmark_error_px": err}
    report["prepare_known"] = {"counts": known.counts}

    faces, _ = SyntheticFaces(num_identities=identities, images_per_identity=images, seed=seed).arrays()
    timing = {}
    for r in RESOLUTIONS:
        t0 = time.perf_counter()
        degrade(faces, r, "surveillance", seed=seed)
        timing[r] = len(faces) / (time.perf_counter() - t0)
    presets = _contact_sheet(faces, out / "degradations.png")
    print(f"[3/3] degraded {len(faces)} faces with preset 'surveillance': "
          + ", ".join(f"{r}px {v:.0f}/s" for r, v in timing.items()))
    print(f"      contact sheet of presets {', '.join(presets)} x {RESOLUTIONS} px: {out / 'degradations.png'}")
    report["degrade_faces_per_second"] = timing
    return report


def _main(argv: Optional[Sequence[str]]) -> int:
    p = ArgumentParser(prog="lrface-demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--identities", type=positive_int, default=20)
    p.add_argument("--images", type=positive_int, default=5, help="images per identity")
    p.add_argument("--workers", type=int, default=0, help="prepare workers (default: one per core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=("recognition", "pipeline"), help="run one part only")
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    out = Path(args.out)
    report: Dict[str, object] = {}
    if args.only in (None, "recognition"):
        from lrface.demo_photos import run_recognition_demo

        print("== Part 1: verify and search surveillance-size faces with the shipped models ==")
        report["recognition"] = run_recognition_demo(out / "recognition")
    if args.only in (None, "pipeline"):
        print("\n== Part 2: the face pipeline (detect, align, prepare, degrade) on synthetic faces ==")
        report["pipeline"] = run_demo(out, args.identities, args.images, args.workers, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo.json").write_text(json.dumps(report, indent=2, default=_jsonable))
    print(f"report: {out / 'demo.json'}")
    return 0


def _jsonable(x: object) -> object:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.bool_):
        return bool(x)
    return str(x)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
