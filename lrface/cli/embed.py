"""``lrface-embed INPUT... --out FILE``: unit-norm embeddings of face photos to ``.npy``/``.npz``.

Example::

    lrface-embed photos/*.jpg --model y1.pt --out emb.npz    # embeddings + file names
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from lrface.cli.common import ArgumentParser, check_files_exist, run_cli, setup_logging


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model name or .pt path (default: the shipped student for --res)")
    p.add_argument("--res", type=int, help="face size in px (picks the default student; HR models simulate it)")
    p.add_argument("--no-align", action="store_true", help="inputs are already aligned crops")
    p.add_argument("--device", default=None)


def _main(argv: Optional[Sequence[str]]) -> int:
    p = ArgumentParser(prog="lrface-embed", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="+", help="image files")
    p.add_argument("--out", required=True, help=".npy (embeddings) or .npz (embeddings + paths)")
    p.add_argument("--flip", action="store_true", help="flip-TTA")
    add_model_args(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    check_files_exist(args.inputs)
    if Path(args.out).suffix not in (".npy", ".npz"):
        raise ValueError(f"--out must end in .npy or .npz, got {args.out}")
    from lrface.api import embed

    e = embed(args.inputs, model=args.model, res=args.res, align=not args.no_align, device=args.device,
              flip=args.flip, on_no_face="nan")
    missing = [f for f, row in zip(args.inputs, e) if np.isnan(row).any()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        np.savez(out, embeddings=e, paths=np.array(args.inputs))
    else:
        np.save(out, e)
    print(f"wrote {e.shape[0]} x {e.shape[1]} embeddings to {out}"
          + (f"; no face in {len(missing)} (NaN rows): {', '.join(missing[:5])}" if missing else ""))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
