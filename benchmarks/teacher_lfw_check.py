"""LFW 10-fold verification of the converted HR teachers (a sanity check of weight import).

Protocol (standard "unrestricted, labelled outside data"): the 6,000 pairs of ``pairs.txt`` in
10 folds of 600; embeddings are the sum of the image's and its horizontal mirror's embedding
(flip-sum), L2-normalised; the score is cosine similarity; for each fold the threshold that
maximises accuracy on the other nine folds is applied to it; we report mean +- std (population)
of the 10 fold accuracies. Independent reference for y1: 99.23 +- 0.54%.

Images are ``lfw/images/<Name>/<Name>_NNNN.jpg``, already aligned to the 112x112 ArcFace
template. ``mobilefacenet_casia`` wants 112x96 SphereFace-style crops: the 112x96 template is
the 112 one shifted by -8 px in x, so columns 8..103 of the aligned crop are exactly that.

Usage::

    python benchmarks/teacher_lfw_check.py                     # both teachers
    python benchmarks/teacher_lfw_check.py --models y1 --bgr   # also score with BGR input

This may later be replaced by ``lrface-bench``; it needs ``../shared/data`` or ``$LRFACE_DATA``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
import torch

from lrface.models import create_model, preprocess
from lrface.models.convert import convert
from lrface.paths import data_root


def read_pairs(path: Path) -> Tuple[List[Tuple[str, str]], np.ndarray]:
    """``pairs.txt`` -> (list of (relative path A, relative path B), labels (6000,) bool)."""
    lines = path.read_text().split("\n")
    folds, per = (int(v) for v in lines[0].split())
    pairs, labels = [], []
    for line in lines[1:]:
        t = line.split()
        if len(t) == 3:
            pairs.append((f"{t[0]}/{t[0]}_{int(t[1]):04d}.jpg", f"{t[0]}/{t[0]}_{int(t[2]):04d}.jpg"))
            labels.append(True)
        elif len(t) == 4:
            pairs.append((f"{t[0]}/{t[0]}_{int(t[1]):04d}.jpg", f"{t[2]}/{t[2]}_{int(t[3]):04d}.jpg"))
            labels.append(False)
    if len(pairs) != 2 * folds * per:
        raise ValueError(f"{path}: expected {2 * folds * per} pairs, read {len(pairs)}")
    return pairs, np.array(labels)


def load_images(root: Path, names: List[str]) -> np.ndarray:
    """Aligned RGB uint8 images ``(N, 112, 112, 3)``."""
    out = np.empty((len(names), 112, 112, 3), np.uint8)
    for i, name in enumerate(names):
        bgr = cv2.imread(str(root / name), cv2.IMREAD_COLOR)
        if bgr is None or bgr.shape[:2] != (112, 112):
            raise ValueError(f"cannot read a 112x112 image from {root / name}")
        out[i] = bgr[:, :, ::-1]
    return out


@torch.no_grad()
def embed_flip_sum(model: torch.nn.Module, images: np.ndarray, batch: int = 128) -> np.ndarray:
    """Unit-norm flip-sum embeddings of uint8 NHWC images already in the model's channel order."""
    cfg = model.cfg.with_(channel_order="RGB")  # the caller already arranged the channels
    chunks = []
    for s in range(0, len(images), batch):
        x = preprocess(images[s : s + batch], cfg)
        e = model(x) + model(torch.flip(x, dims=[3]))
        chunks.append(torch.nn.functional.normalize(e, dim=1).numpy())
    return np.concatenate(chunks)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """Threshold (predict "same" when score > t) with the highest accuracy on these pairs."""
    order = np.argsort(scores)
    s, lab = scores[order], labels[order].astype(np.int64)
    # cutting before sorted item i: items < i predicted "different", items >= i "same"
    neg_below = np.concatenate([[0], np.cumsum(1 - lab)])
    pos_above = lab.sum() - np.concatenate([[0], np.cumsum(lab)])
    i = int(np.argmax(neg_below + pos_above))
    lo = s[i - 1] if i > 0 else s[0] - 1.0
    hi = s[i] if i < len(s) else s[-1] + 1.0
    return float((lo + hi) / 2)


def ten_fold_accuracy(scores: np.ndarray, labels: np.ndarray, folds: int = 10) -> Tuple[float, float]:
    """Mean and std of held-out fold accuracies, threshold chosen on the other folds."""
    fold_id = np.repeat(np.arange(folds), len(scores) // folds)
    accs = []
    for k in range(folds):
        train, test = fold_id != k, fold_id == k
        t = best_threshold(scores[train], labels[train])
        accs.append(np.mean((scores[test] > t) == labels[test]))
    return float(np.mean(accs)), float(np.std(accs))


def teacher(kind: str, teachers: Path) -> torch.nn.Module:
    """Build a converted teacher: ``y1`` (MXNet) or ``casia`` (legacy ``068.ckpt``)."""
    if kind == "y1":
        conv = convert(teachers / "mobilefacenet_y1")
    else:
        # 068.ckpt loads with the restricted loader in current torch; trust is a fallback only
        conv = convert(teachers / "mobilefacenet_casia" / "068.ckpt", arch="mobilefacenet_casia", trust=True)
    model = create_model(conv.arch)
    model.load_state_dict(conv.state_dict)
    model.cfg = conv.cfg
    return model.eval()


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="data root (default: $LRFACE_DATA or ../shared/data)")
    ap.add_argument("--models", nargs="+", default=["y1", "casia"], choices=["y1", "casia"])
    ap.add_argument("--bgr", action="store_true", help="also score with channels reversed (order check)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    root = args.data or data_root()
    if root is None or not (root / "lfw" / "pairs.txt").is_file():
        print("LFW not found: set LRFACE_DATA or pass --data", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    pairs, labels = read_pairs(root / "lfw" / "pairs.txt")
    names = sorted({p for pair in pairs for p in pair})
    index: Dict[str, int] = {n: i for i, n in enumerate(names)}
    t0 = time.time()
    images = load_images(root / "lfw" / "images", names)
    print(f"{len(pairs)} pairs, {len(names)} images loaded in {time.time() - t0:.1f}s", flush=True)
    a = np.array([index[p] for p, _ in pairs])
    b = np.array([index[q] for _, q in pairs])
    for kind in args.models:
        model = teacher(kind, root / "teachers")
        crop = images if model.cfg.input_size == (112, 112) else images[:, :, 8:104]
        orders = [("RGB", crop)] + ([("BGR", crop[..., ::-1])] if args.bgr else [])
        for order, imgs in orders:
            t0 = time.time()
            emb = embed_flip_sum(model, imgs)
            mean, std = ten_fold_accuracy(np.sum(emb[a] * emb[b], axis=1), labels)
            h, w = model.cfg.input_size
            print(f"{kind:6s} {h}x{w} {order}: LFW 10-fold {100 * mean:.2f} +- {100 * std:.2f}% "
                  f"(flip-sum, cosine; {time.time() - t0:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
