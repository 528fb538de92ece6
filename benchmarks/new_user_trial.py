"""The new-user trial of issue 16, rerun: what ``lrface`` does today with each case it listed.

Real photos: the shared Pins crops (celebrity photos, not LFW's aligned crops), the first
``--ids`` identities in name order, two photos each. Photo A is the "ID photo", embedded as a
user would (``lrface.embed(path)``). Photo B becomes a camera crop: MTCNN's box on it (tight,
and with 30% margin on every side), cut out and shrunk whole (area) to 16 or 24 px, then
``lrface.embed(crop)`` with all defaults; beside it, the aligned route
(``lrface.embed(photo_B, res=16)``: detected, aligned, then degraded). Impostor pairs: photo A
of identity i against photo B of identity i+1. Reported per route: mean genuine and impostor
score, and the share accepted at the FAR 1e-3 threshold the API chose. Also: the same crop
resized to 30-36 px against its photo (the old 32/33 px cliff); gray, noise and gradient
patches; an unreadable file in a batch; the CLI exit codes and errors.

Usage::

    python benchmarks/new_user_trial.py --out benchmarks/results/new_user_trial.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _box_crop(img: np.ndarray, box: np.ndarray, margin: float) -> np.ndarray:
    """The detector box grown by ``margin`` of its size on every side, as a square, edge-padded."""
    import cv2

    x1, y1, x2, y2 = [float(v) for v in box]
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a, b = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    pad = s
    big = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(big[b + pad:b + pad + s, a + pad:a + pad + s])


def _shrink(img: np.ndarray, px: int) -> np.ndarray:
    import cv2

    return cv2.resize(img, (px, px), interpolation=cv2.INTER_AREA)


def _decide(a_info: Any, b_info: Any, score: float, far: float = 1e-3) -> Optional[bool]:
    from lrface.decisions import pair_threshold
    from lrface.models.weights import available_weights

    w = available_weights()
    t = pair_threshold(w.get(a_info.model), w.get(b_info.model), far, a_info.res, b_info.res)
    return None if t is None else bool(score >= t)


def photos(ids: int) -> List[List[Path]]:
    from lrface.settings import data_root

    root = (data_root() or Path("/nonexistent")) / "pins"
    if not root.is_dir():
        raise SystemExit(f"error: no Pins photos at {root} (set LRFACE_DATA)")
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(d.glob("*.jpg"))[:2]
        if len(files) == 2:
            out.append(files)
        if len(out) == ids:
            break
    return out


def crop_routes(pairs: List[List[Path]], sizes: List[int]) -> Dict[str, Any]:
    import cv2

    import lrface
    from lrface.face.detect import detect, select_face

    ea, ia = lrface.embed([str(p[0]) for p in pairs], return_info=True, on_no_face="nan")
    imgs = [cv2.cvtColor(cv2.imread(str(p[1])), cv2.COLOR_BGR2RGB) for p in pairs]
    boxes = []
    for img in imgs:
        faces = detect(img, pad=0.25)
        boxes.append(None if not faces else select_face(faces, img.shape, "largest").box)
    keep = [i for i in range(len(pairs)) if boxes[i] is not None and np.isfinite(ea[i]).all()]
    out: Dict[str, Any] = {"identities": len(pairs), "pairs_used": len(keep)}
    for px in sizes:
        routes = {
            "tight box, shrunk": [_shrink(_box_crop(imgs[i], boxes[i], 0.0), px) for i in keep],
            "box + 30% margin, shrunk": [_shrink(_box_crop(imgs[i], boxes[i], 0.3), px) for i in keep],
        }
        for name, crops in routes.items():
            eb, ib = lrface.embed(crops, return_info=True, on_no_face="nan")
            out[f"{name} {px} px"] = _score_pairs(ea[keep], [ia[i] for i in keep], eb, ib)
        eb, ib = lrface.embed([imgs[i] for i in keep], res=px, return_info=True, on_no_face="nan")
        out[f"aligned, then degraded {px} px"] = _score_pairs(ea[keep], [ia[i] for i in keep], eb, ib)
    # the old cliff: one margin crop at 30-36 px against its photo
    cliff = {}
    for px in range(30, 37):
        eb, ib = lrface.embed([_shrink(_box_crop(imgs[i], boxes[i], 0.3), px) for i in keep], return_info=True,
                              on_no_face="nan")
        g = [float(ea[keep][j] @ eb[j]) for j in range(len(keep)) if np.isfinite(eb[j]).all()]
        cliff[str(px)] = {"genuine_mean": round(float(np.mean(g)), 4) if g else None,
                          "models": sorted({str(i.model) for i in ib if i.model})}
    out["margin crop resized, genuine mean by size"] = cliff
    return out


def _score_pairs(ea: np.ndarray, ia: List[Any], eb: np.ndarray, ib: List[Any]) -> Dict[str, Any]:
    n = len(ea)
    ok = [j for j in range(n) if np.isfinite(eb[j]).all()]
    gen = [float(ea[j] @ eb[j]) for j in ok]
    imp_idx = [(j, (j + 1) % n) for j in ok if (j + 1) % n in ok]
    imp = [float(ea[(k + 1) % n] @ eb[k]) for k, _ in imp_idx]
    acc_g = [_decide(ia[j], ib[j], float(ea[j] @ eb[j])) for j in ok]
    acc_i = [_decide(ia[(k + 1) % n], ib[k], float(ea[(k + 1) % n] @ eb[k])) for k, _ in imp_idx]
    return {"embedded": len(ok), "of": n, "genuine_mean": round(float(np.mean(gen)), 4) if gen else None,
            "impostor_mean": round(float(np.mean(imp)), 4) if imp else None,
            "genuine_accepted_far1e-3": round(float(np.mean([bool(a) for a in acc_g])), 4) if acc_g else None,
            "impostor_accepted_far1e-3": round(float(np.mean([bool(a) for a in acc_i])), 4) if acc_i else None,
            "models": sorted({str(i.model) for i in ib if i.model})}


def patches() -> Dict[str, Any]:
    import lrface

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 16, dtype=np.float32)
    cases = {"uniform gray 16 px": np.full((16, 16, 3), 128, np.uint8),
             "noise 16 px": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
             "gradient 16 px": np.repeat(np.repeat(ramp[None, :, None], 16, 0), 3, 2).astype(np.uint8)}
    out = {}
    for name, img in cases.items():
        _, info = lrface.embed(img, on_no_face="nan", return_info=True)
        out[name] = {"accepted_as_face": bool(info[0].found), "why": info[0].error}
    try:
        lrface.verify(cases["uniform gray 16 px"], cases["uniform gray 16 px"])
        out["two gray patches verified"] = "scored (defect)"
    except lrface.NoFaceError as exc:
        out["two gray patches verified"] = f"NoFaceError: {str(exc)[:120]}"
    return out


def batch_with_bad_file(photo: Path) -> Dict[str, Any]:
    import lrface

    with tempfile.TemporaryDirectory() as d:
        bad = Path(d) / "broken.png"
        bad.write_bytes(b"not an image")
        e, info = lrface.embed([str(photo), str(bad)], on_no_face="nan", return_info=True)
        try:
            lrface.embed([str(photo), str(bad)])
            default = "no error (defect)"
        except lrface.ImageReadError as exc:
            default = f"ImageReadError: {str(exc)[:120]}"
    return {"rows_embedded": int(np.isfinite(e).all(axis=1).sum()), "rows": len(e),
            "bad_row_error": info[1].error, "default on_no_face='raise'": default}


def cli(same: List[Path], other: Path) -> Dict[str, Any]:
    bin_ = Path(sys.executable).parent

    def run(*args: str) -> Dict[str, Any]:
        p = subprocess.run([str(bin_ / args[0]), *args[1:]], capture_output=True, text=True, timeout=600)
        return {"command": " ".join(args), "exit": p.returncode,
                "stderr_last": (p.stderr.strip().splitlines() or [""])[-1][:200],
                "stdout_first": (p.stdout.strip().splitlines() or [""])[0][:200]}

    with tempfile.TemporaryDirectory() as d:
        return {"verify same": run("lrface-verify", str(same[0]), str(same[1])),
                "verify different": run("lrface-verify", str(same[0]), str(other)),
                "verify missing file": run("lrface-verify", str(same[0]), f"{d}/missing.jpg"),
                "verify bad far": run("lrface-verify", str(same[0]), str(same[1]), "--far", "0.5"),
                "embed into a folder that does not exist": run("lrface-embed", str(same[0]), "--out",
                                                               f"{d}/no/such/folder/e.npz"),
                "folder created": (Path(d) / "no").exists()}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", type=int, default=60, help="Pins identities (two photos each)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 24])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "new_user_trial.json"))
    args = ap.parse_args(argv)
    from lrface.provenance import provenance

    pairs = photos(args.ids)
    result: Dict[str, Any] = {"crops": crop_routes(pairs, args.sizes), "patches": patches(),
                              "batch": batch_with_bad_file(pairs[0][0]), "cli": cli(pairs[0], pairs[1][1]),
                              **provenance()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
