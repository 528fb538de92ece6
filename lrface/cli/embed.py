"""``lrface-embed INPUT... --out FILE``: unit-norm embeddings of faces, with an index of paths.

Inputs are image files or folders (searched recursively). Each face goes to the shipped model
that fits its size unless ``--model``/``--res`` say otherwise; every row records the model that
ran, the measured face size and the quality score. Files without a face, or that cannot be
read, are listed and skipped rather than failing the batch.

Outputs (by suffix):

* ``.npz``: ``embeddings`` (N, D) float32, ``paths``, ``models``, ``face_px``, ``quality``;
* ``.parquet`` (needs ``pip install pyarrow``): one row per file, columns ``path``, ``model``,
  ``face_px``, ``quality`` and ``e0..e{D-1}``;
* ``.npy``: the embeddings only (rows in input order; NaN rows for files without a face).

Example::

    lrface-embed camera_crops/ --no-align --out probes.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from lrface.cli.common import ArgumentParser, embed_files, gather_images, run_cli, setup_logging

SUFFIXES = (".npz", ".parquet", ".npy")


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model name or .pt path (default: the shipped model that fits each face's size)")
    p.add_argument("--res", type=int, help="treat faces as this many px across (picks the shipped model for it)")
    p.add_argument("--no-align", action="store_true", help="inputs are already aligned or tight face crops")
    p.add_argument("--fast", action="store_true",
                   help="small faces go to the compact student for their size (many times faster) instead of lrface-lr")
    p.add_argument("--device", default=None)


def model_kwargs(args: argparse.Namespace) -> dict:
    """The embed() keywords the model options above stand for."""
    return dict(model=args.model, res=args.res, device=args.device, prefer="speed" if args.fast else "accuracy")


def write_embeddings(out: Path, paths: Sequence[str], e: np.ndarray, infos: Sequence[object]) -> None:
    """Write embeddings with their index (see the module docstring for the formats)."""
    if not out.parent.is_dir():  # create nothing the user did not ask for
        raise FileNotFoundError(2, "the folder of --out does not exist (create it first)", str(out.parent))
    models = np.array([getattr(i, "model", None) or "" for i in infos])
    face_px = np.array([getattr(i, "face_px", np.nan) for i in infos], np.float32)
    quality = np.array([getattr(i, "quality", np.nan) for i in infos], np.float32)
    if out.suffix == ".npz":
        np.savez(out, embeddings=e, paths=np.array(list(paths)), models=models, face_px=face_px, quality=quality)
    elif out.suffix == ".parquet":
        import pandas as pd

        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError("--out .parquet needs pyarrow (pip install pyarrow); or use .npz") from None
        df = pd.DataFrame({"path": list(paths), "model": models, "face_px": face_px, "quality": quality})
        df = pd.concat([df, pd.DataFrame(e, columns=[f"e{k}" for k in range(e.shape[1])])], axis=1)
        df.to_parquet(out, index=False)
    else:
        np.save(out, e)


def _main(argv: Optional[Sequence[str]]) -> int:
    p = ArgumentParser(prog="lrface-embed", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output file: .npz, .parquet or .npy")
    p.add_argument("--flip", action="store_true", help=argparse.SUPPRESS)  # flip-TTA is the default now
    p.add_argument("--no-flip", action="store_true", help="no flip-TTA (half the work; the calibrated thresholds "
                                                           "assume flip-TTA)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_model_args(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    out = Path(args.out)
    if out.suffix not in SUFFIXES:
        raise ValueError(f"--out must end in {', '.join(SUFFIXES)}, got {args.out}")
    if not out.parent.is_dir():  # before any work: create nothing the user did not ask for
        raise FileNotFoundError(2, "the folder of --out does not exist (create it first)", str(out.parent))
    paths = gather_images(args.inputs)
    e, infos, failed = embed_files(paths, progress=not args.quiet, align=not args.no_align, flip=not args.no_flip,
                                   **model_kwargs(args))
    write_embeddings(out, paths, e, infos)
    used = sorted({i.model for i in infos if getattr(i, "model", None)})
    print(f"wrote {len(paths) - len(failed)} of {len(paths)} embeddings ({e.shape[1]}-D) to {out}; "
          f"models: {', '.join(used) or '-'}")
    for path, why in failed.items():
        print(f"  {path}: {why}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
