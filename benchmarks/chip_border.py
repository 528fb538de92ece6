"""How to cut dlib's chip from an ArcFace 112 crop: at a fixed map or at dlib's landmarks (LFW View 1).

An aligned 112x112 crop (the shared LFW, ``lrface-prepare`` output) is not dlib's chip. This
scores the port (``--model``) on LFW View 1 (``pairsDevTrain.txt`` and ``pairsDevTest.txt``
together, 3,200 pairs, flip-TTA: the mirrored crop through the same cut, 10 folds) with the
chip cut

* by the fixed ArcFace-to-chip map (``lrface.face.align.ARCFACE_TO_DLIB_CHIP``), the 10 rows
  below the crop filled with mid-gray, the crop's edge repeated, or mirrored;
* at dlib's own five landmarks found by its landmark model (``lrface.face.dlib_landmarks``) in
  a fixed box, sampling the crop padded by its repeated edge, or by mid-gray.

Selection only: LFW View 2 is not used. Writes ``benchmarks/results/chip_border_view1.json``.

Usage::

    python benchmarks/chip_border.py --model lrface-hr
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _fixed(border: int) -> Callable[[np.ndarray, int], np.ndarray]:
    def view(faces: np.ndarray, side: int) -> np.ndarray:
        from lrface.face.align import frame_to_geometry

        m = frame_to_geometry("dlib_chip", 112, side)
        return np.stack([cv2.warpAffine(f, m, (side, side), flags=cv2.INTER_CUBIC, borderMode=border,
                                        borderValue=(127, 127, 127)) for f in faces])
    return view


def _landmarks(border: int) -> Callable[[np.ndarray, int], np.ndarray]:
    def view(faces: np.ndarray, side: int) -> np.ndarray:
        from lrface.face.dlib_landmarks import landmark_model
        from lrface.models.inputs import DLIB_BOX_112, _chips_at_landmarks

        pad = 56
        grown = np.stack([cv2.copyMakeBorder(f, pad, pad, pad, pad, cv2.BORDER_REPLICATE) for f in faces])
        lm = landmark_model().batch(grown, np.tile(np.asarray(DLIB_BOX_112) + pad, (len(faces), 1)))
        src = grown if border == cv2.BORDER_REPLICATE else np.stack(
            [cv2.copyMakeBorder(f, pad, pad, pad, pad, border, value=(127, 127, 127)) for f in faces])
        return _chips_at_landmarks(list(src), lm, (side, side))
    return view


VARIANTS: Dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "fixed map, mid-gray below": _fixed(cv2.BORDER_CONSTANT),
    "fixed map, edge repeated": _fixed(cv2.BORDER_REPLICATE),
    "fixed map, edge mirrored": _fixed(cv2.BORDER_REFLECT_101),
    "dlib landmarks, edge repeated (shipped)": _landmarks(cv2.BORDER_REPLICATE),
    "dlib landmarks, mid-gray beyond": _landmarks(cv2.BORDER_CONSTANT),
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "chip_border_view1.json"))
    args = p.parse_args(argv)
    import torch

    from lrface.eval.metrics import kfold_verification, roc_auc
    from lrface.eval.protocols.lfw import LFWVerification
    from lrface.models.base import preprocess
    from lrface.models.inputs import inference_copy
    from lrface.models.weights import load_model
    from lrface.provenance import provenance

    m = inference_copy(load_model(args.model))
    side = m.cfg.input_size[0]
    lists = []
    for name in ("pairsDevTrain.txt", "pairsDevTest.txt"):
        proto = LFWVerification(pairs=name)
        pairs, _ = proto.check()
        lists.append((pairs, proto.faces()))

    def embed(faces: np.ndarray, view: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
        total = 0
        for flip in (False, True):
            views = view(np.ascontiguousarray(faces[:, :, ::-1]) if flip else faces, side)
            with torch.inference_mode():
                total = total + np.concatenate([m(preprocess(views[s:s + 128], m.cfg)).numpy()
                                                for s in range(0, len(views), 128)])
        return total / np.linalg.norm(total, axis=1, keepdims=True)

    out = {}
    for name, view in VARIANTS.items():
        scores, labels = [], []
        for pairs, faces in lists:
            index = {k: i for i, k in enumerate(pairs.images())}
            e = embed(faces, view)
            a = np.array([index[k] for k in pairs.first])
            b = np.array([index[k] for k in pairs.second])
            scores.append((e[a] * e[b]).sum(1))
            labels.append(np.asarray(pairs.labels))
        s, lab = np.concatenate(scores), np.concatenate(labels)
        kf = kfold_verification(s, lab, folds=10)
        out[name] = {"accuracy": kf["accuracy"], "accuracy_std": kf["accuracy_std"], "auc": roc_auc(s, lab)}
        print(f"{name}: {100 * kf['accuracy']:.2f} (AUC {100 * out[name]['auc']:.3f})", flush=True)
    Path(args.out).write_text(json.dumps({"pairs": 3200, "variants": out, "model": args.model, **provenance()},
                                         indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
