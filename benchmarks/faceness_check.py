"""Are small non-faces rejected and small faces kept? ``lrface.embed()`` on crops of 12-32 px.

Faces: LFW images (never trained on), as a camera system would crop them: the ArcFace-aligned
crop, a tight detector box, and the box with 30% margin, shrunk to a size drawn from 12-32 px.
Non-faces (none seen in training): uniform gray and colour patches, noise, gradients, stripes
and checkerboards, patches of the held-out natural images, and the background corners of LFW
crops. Every crop goes through ``lrface.embed(crop, align=False, on_no_face="nan")`` with the
default face-ness check; a face is kept when it gets an embedding, a non-face rejected when it
does not. Writes ``benchmarks/results/faceness_check.json``.

Usage::

    python benchmarks/faceness_check.py [--faces 1200] [--nonfaces 1500]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def lfw_crops(n: int, rng: np.random.Generator) -> Dict[str, List[np.ndarray]]:
    """LFW faces in three framings, each shrunk to 12-32 px: aligned, tight box, 30% margin."""
    import cv2

    from lrface.eval.protocols.lfw import LFWVerification
    from lrface.face.degrade import degrade

    faces = LFWVerification().faces()
    pick = rng.choice(len(faces), size=n, replace=False)
    # the face box in the 112 ArcFace frame (where MTCNN's box falls on these crops, roughly)
    box = np.array([18.0, 22.0, 94.0, 110.0])
    out: Dict[str, List[np.ndarray]] = {"aligned": [], "tight box": [], "box + 30% margin": []}
    for k, i in enumerate(pick):
        f = faces[i]
        s = int(rng.integers(12, 33))
        kind = list(out)[k % 3]
        if kind == "aligned":
            crop = f
        else:
            m = 0.3 if kind.startswith("box +") else 0.0
            w, h = box[2] - box[0], box[3] - box[1]
            x0, y0 = box[0] - m * w / 2, box[1] - m * h / 2
            side = max(w, h) * (1 + m)
            big = cv2.copyMakeBorder(f, 40, 40, 40, 40, cv2.BORDER_REFLECT_101)
            crop = np.ascontiguousarray(big[int(y0 + 40):int(y0 + 40 + side), int(x0 + 40):int(x0 + 40 + side)])
        out[kind].append(degrade(crop, s, "area"))
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=int, default=1200)
    p.add_argument("--nonfaces", type=int, default=1500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "faceness_check.json"))
    args = p.parse_args(argv)

    import lrface
    from lrface.data.synthetic.nonfaces import corner_patches, image_patches, synthetic_nonfaces
    from lrface.eval.protocols.lfw import LFWVerification
    from lrface.face.faceness import FACENESS_THRESHOLD
    from lrface.provenance import provenance
    from train_faceness import VAL_IMAGES, skimage_images

    rng = np.random.default_rng(args.seed)
    faces = lfw_crops(args.faces, rng)
    third = args.nonfaces // 3
    lfw112 = LFWVerification().faces()
    nonfaces = {"uniform, noise, gradients, patterns": synthetic_nonfaces(third, rng),
                "natural-image patches": image_patches(skimage_images(VAL_IMAGES), third, rng),
                "background corners of LFW crops": corner_patches(lfw112, args.nonfaces - 2 * third, rng)}
    # the two cases of the new-user trial, exactly
    gray = np.full((16, 16, 3), 128, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    res: Dict[str, Dict[str, float]] = {}
    for group, sets, want in (("faces kept", faces, True), ("non-faces rejected", nonfaces, False)):
        for kind, crops in sets.items():
            _, info = lrface.embed(crops, align=False, on_no_face="nan", return_info=True)
            found = np.array([i.found for i in info])
            res[f"{group}: {kind}"] = {"n": len(crops), "rate": float(found.mean() if want else 1 - found.mean())}
            print(f"{group}, {kind}: {100 * res[f'{group}: {kind}']['rate']:.2f}% of {len(crops)}", flush=True)
    total_faces = sum(v["n"] for k, v in res.items() if k.startswith("faces"))
    total_non = sum(v["n"] for k, v in res.items() if k.startswith("non"))
    kept = sum(v["n"] * v["rate"] for k, v in res.items() if k.startswith("faces")) / total_faces
    rejected = sum(v["n"] * v["rate"] for k, v in res.items() if k.startswith("non")) / total_non
    _, trial = lrface.embed([gray, noise], align=False, on_no_face="nan", return_info=True)
    out = {"threshold": FACENESS_THRESHOLD, "faces": total_faces, "faces_kept": kept, "nonfaces": total_non,
           "nonfaces_rejected": rejected, "by_kind": res,
           "gray_16px": trial[0].error, "noise_16px": trial[1].error,
           "seconds": round(time.perf_counter() - t0, 1), **provenance()}
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"faces kept {100 * kept:.2f}% of {total_faces}; non-faces rejected {100 * rejected:.2f}% of {total_non}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
