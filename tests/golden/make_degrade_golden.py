"""Golden outputs of :func:`lrface.face.degrade.degrade`, and the script that (re)writes them.

``tests/test_degrade.py`` compares ``degrade`` against ``degrade_golden.npz`` (next to this
file) for every registered preset, so any change to a random stream, a kernel, the stage
order or the rounding shows up as a failing test instead of a silent shift of every LR
benchmark number.

Regenerate ON PURPOSE only, after deciding that the new output is the intended one:

    python tests/golden/make_degrade_golden.py            # rewrite degrade_golden.npz
    python tests/golden/make_degrade_golden.py --check    # compare only, exit 1 on mismatch

The input is built with integer arithmetic only (no random generator, no real data), so it
is identical on every platform. The outputs do depend on numpy's ``Generator`` streams
(PCG64, ``uniform``/``standard_normal``/``integers``), OpenCV's JPEG codec and the float64
rounding of the BLAS matrix products; a failure right after upgrading one of those is a
real change of the LR data, to be looked at before regenerating.

What is stored, per case ``<preset>/<tag>`` (seed 1234, indices ``INDICES``):

* ``out:<case>``: the full uint8 output for native LR sizes (16, 32, 14x12, and 24-image
  batches, the input tiled 6 times with further indices ``1000 + 7 i``);
  for the 112x112 ``upsample`` cases only every 8th pixel in each direction;
* ``sha256:<case>``: sha256 of the full output's bytes (C order), plus ``shape:<case>``;
* ``input_sha256``: sha256 of the input batch, to catch a change of the input builder.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without install

from lrface.face.degrade import degrade, list_presets  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "degrade_golden.npz"
SEED = 1234
INDICES = (7, 0, 123456, 42)  # non-trivial, non-sorted per-image stream keys
UPSAMPLE_STRIDE = 8


def golden_input() -> np.ndarray:
    """(4, 112, 112, 3) uint8 face-like patterns from integer arithmetic only.

    A shifted bright ellipse ("face") with two dark "eyes" and a "mouth" on a diagonal
    gradient, plus a deterministic high-frequency integer texture, so blur, aliasing and
    JPEG all matter.
    """
    y, x = np.mgrid[0:112, 0:112].astype(np.int64)
    out = np.empty((len(INDICES), 112, 112, 3), np.uint8)
    for k in range(len(INDICES)):
        cy, cx = 58 + 2 * k, 56 - 3 * k
        base = 40 + (x * (k + 1) + y * (4 - k)) // 4  # gradient background
        face = (9 * (y - cy) ** 2 + 16 * (x - cx) ** 2) < 9 * 16 * 38**2 // 4
        eyes = ((y - (cy - 10)) ** 2 + (x - (cx - 14)) ** 2 < 36) | (
            (y - (cy - 10)) ** 2 + (x - (cx + 14)) ** 2 < 36
        )
        mouth = (abs(y - (cy + 18)) < 3) & (abs(x - cx) < 12)
        for c in range(3):
            v = base + 25 * c
            v = np.where(face, 150 + 30 * c - (y - cy) // 2, v)
            v = np.where(eyes | mouth, 30 + 10 * c, v)
            v = v + ((x * 73 + y * 151 + x * y * (k + 7) + c * 37) % 41) - 20  # texture
            out[k, :, :, c] = np.clip(v, 0, 255)
    return out


def cases() -> List[Tuple[str, str, dict]]:
    """(case name, preset, keyword arguments of degrade besides images/preset/seed/indices)."""
    out = []
    for p in list_presets():
        out.append((f"{p}/r16", p, {"res": 16}))
        out.append((f"{p}/r32", p, {"res": 32}))
        out.append((f"{p}/r16-up112", p, {"res": 16, "upsample": 112}))
    out.append(("surveillance/r14x12", "surveillance", {"res": (14, 12)}))
    # Batches past degrade's small-batch and chunk sizes (16 and ~10 images), so the
    # batch-wise random streams and chunking are pinned too: the input tiled 6 times.
    out.append(("surveillance/r16-b24", "surveillance", {"res": 16, "tile": 6}))
    out.append(("mild/r24-b24", "mild", {"res": 24, "tile": 6}))
    return out


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def run_case(x: np.ndarray, preset: str, kwargs: dict) -> np.ndarray:
    kwargs = dict(kwargs)
    tile = kwargs.pop("tile", 1)
    indices = list(INDICES) + [1000 + 7 * i for i in range(len(INDICES) * (tile - 1))]
    return degrade(np.tile(x, (tile, 1, 1, 1)), preset=preset, seed=SEED, indices=indices, **kwargs)


def stored_view(name: str, out: np.ndarray) -> np.ndarray:
    """What is kept of a case's output: all of it, or a strided sample of upsampled ones."""
    return out[:, ::UPSAMPLE_STRIDE, ::UPSAMPLE_STRIDE] if "-up" in name else out


def compute() -> Dict[str, np.ndarray]:
    x = golden_input()
    data: Dict[str, np.ndarray] = {"input_sha256": np.array(sha256(x))}
    for name, preset, kwargs in cases():
        out = run_case(x, preset, kwargs)
        data[f"out:{name}"] = stored_view(name, out)
        data[f"sha256:{name}"] = np.array(sha256(out))
        data[f"shape:{name}"] = np.array(out.shape)
    data["numpy_version"] = np.array(np.__version__)
    return data


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare only, do not write")
    args = ap.parse_args(argv)
    data = compute()
    if args.check:
        if not GOLDEN.exists():
            print(f"missing {GOLDEN}")
            return 1
        with np.load(GOLDEN) as g:
            bad = [k for k in data if k.startswith("sha256:") and (k not in g or str(g[k]) != str(data[k]))]
        print("OK" if not bad else "MISMATCH: " + ", ".join(bad))
        return int(bool(bad))
    np.savez_compressed(GOLDEN, **data)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes, {len(cases())} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
