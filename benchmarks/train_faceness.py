"""Train the face-ness check for small crops (``lrface/weights/faceness24.pt``).

Faces: the aligned CelebA faces (``celeba_1k_112``, ``celeba_5k_64``) re-framed and shrunk to
12-32 px (:func:`lrface.data.synthetic.nonfaces.framed_faces`). Non-faces: procedural patches,
patches of the natural images that scikit-image ships (the two with people, ``astronaut`` and
``camera``, left out), the background corners of the CelebA crops. Identities 0-89% of each
folder train, the rest validate; natural images are split by image (``--val-images``).

The threshold is set on the validation split: the largest one that keeps
``--keep`` (99.5%) of the validation faces. Writes the weights, the threshold and the figures
to ``benchmarks/results/faceness_train.json``; the sha256 and the threshold go into
``lrface/face/faceness.py`` by hand (printed).

Usage::

    python benchmarks/train_faceness.py [--ship]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
#: scikit-image sample images used as backgrounds, and the ones held out for validation
#: (images with people are never used).
TRAIN_IMAGES = ("brick", "cell", "chelsea", "chessboard_RGB", "coffee", "coins", "color", "grass", "gravel",
                "horse", "hubble_deep_field", "ihc", "logo", "moon", "page", "phantom", "retina", "text")
VAL_IMAGES = ("rocket", "motorcycle_left", "clock_motion", "microaneurysms")


def skimage_images(names: Sequence[str]) -> List[np.ndarray]:
    import importlib.util

    from lrface.face.io import read_image

    spec = importlib.util.find_spec("skimage")
    if spec is None:
        raise SystemExit("error: needs scikit-image's sample images (pip install scikit-image)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    out = []
    for n in names:
        for ext in (".png", ".jpg"):
            if (folder / f"{n}{ext}").is_file():
                out.append(read_image(folder / f"{n}{ext}"))
    return out


def split_by_identity(root: Path, val_share: float = 0.1):
    ids = sorted(p.name for p in root.iterdir() if p.is_dir())
    cut = int(len(ids) * (1 - val_share))
    return ids[:cut], ids[cut:]


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-class", type=int, default=30000, help="training samples per class")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--keep", type=float, default=0.995, help="share of validation faces the threshold keeps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ship", action="store_true")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "faceness_train.json"))
    args = p.parse_args(argv)

    import cv2
    import torch

    from lrface.data.synthetic.nonfaces import corner_patches, framed_faces, image_patches, synthetic_nonfaces
    from lrface.face.faceness import SHIPPED, FacenessNet, prepare_crops
    from lrface.face.io import read_image
    from lrface.settings import data_root
    from lrface.provenance import provenance

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    root = data_root()
    train_faces, val_faces = [], []
    for folder in ("celeba_1k_112", "celeba_5k_64"):
        tr_ids, va_ids = split_by_identity(root / folder)
        for ids, bucket in ((tr_ids, train_faces), (va_ids, val_faces)):
            files = [f for i in ids for f in sorted((root / folder / i).glob("*.jpg"))]
            bucket.extend(files)
    def read112(files: List[Path], limit: int) -> np.ndarray:
        pick = rng.choice(len(files), size=min(limit, len(files)), replace=False)
        imgs = [read_image(files[i]) for i in pick]
        return np.stack([im if im.shape[:2] == (112, 112) else cv2.resize(im, (112, 112), interpolation=cv2.INTER_CUBIC)
                         for im in imgs])

    t0 = time.perf_counter()
    tr112, va112 = read112(train_faces, 12000), read112(val_faces, 2000)
    bg_train, bg_val = skimage_images(TRAIN_IMAGES), skimage_images(VAL_IMAGES)
    n = args.per_class
    pos = framed_faces(tr112, n, rng)
    neg = (synthetic_nonfaces(n // 3, rng) + image_patches(bg_train, n // 3, rng)
           + corner_patches(tr112, n - 2 * (n // 3), rng))
    x = prepare_crops(pos + neg)
    y = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))])
    vpos = framed_faces(va112, 2000, rng)
    vneg = synthetic_nonfaces(700, rng) + image_patches(bg_val, 700, rng) + corner_patches(va112, 700, rng)
    xv = prepare_crops(vpos + vneg)
    data_s = time.perf_counter() - t0

    net = FacenessNet()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = args.epochs * (len(x) // 256)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    t0 = time.perf_counter()
    step = 0
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(x))
        for s in range(0, len(x) - 255, 256):
            idx = perm[s:s + 256]
            xb = x[idx]
            if torch.rand(()) < 0.5:  # brightness / contrast jitter in the normalised space
                xb = (xb * (0.7 + 0.6 * torch.rand(len(xb), 1, 1, 1)) + 0.3 * (torch.rand(len(xb), 1, 1, 1) - 0.5)).clamp(-1, 1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}", flush=True)
    train_s = time.perf_counter() - t0
    net.eval()
    with torch.inference_mode():
        pv = torch.sigmoid(net(xv)).numpy()
    fp, fn_ = pv[:len(vpos)], pv[len(vpos):]
    threshold = float(np.quantile(fp, 1 - args.keep))  # keeps args.keep of the validation faces
    kinds = {"synthetic": fn_[:700], "natural images": fn_[700:1400], "face-crop corners": fn_[1400:]}
    res = {"threshold": round(threshold, 4), "val_faces_kept": float((fp >= threshold).mean()),
           "val_nonfaces_rejected": float((fn_ < threshold).mean()),
           "val_nonfaces_rejected_by_kind": {k: float((v < threshold).mean()) for k, v in kinds.items()},
           "train_samples": int(len(x)), "val_faces": len(vpos), "val_nonfaces": len(vneg),
           "data_seconds": round(data_s, 1), "train_seconds": round(train_s, 1),
           "params": int(sum(p.numel() for p in net.parameters())), **provenance()}
    print(json.dumps({k: v for k, v in res.items() if k.startswith(("threshold", "val_"))}, indent=1))
    if args.ship:
        from lrface.models.weights import PACKAGE_WEIGHTS, sha256_file

        dst = PACKAGE_WEIGHTS / SHIPPED
        tmp = dst.with_name(f".{dst.name}.tmp")
        torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, tmp)
        os.replace(tmp, dst)
        res["sha256"] = sha256_file(dst)
        print(f"wrote {dst}: set SHIPPED_SHA256 = {res['sha256']!r} and FACENESS_THRESHOLD = {threshold:.4f} "
              "in lrface/face/faceness.py")
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
