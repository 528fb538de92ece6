"""``lrface-prepare SRC DST``: detect, align and save a raw identity-folder dataset.

Example::

    lrface-prepare ../shared/data/pins out/pins_aligned --workers 2
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from lrface.cli.common import ArgumentParser, run_cli, setup_logging
from lrface.data.prepare import PrepareSettings, prepare_dataset
from lrface.face.pipeline import POLICIES


def _size(text: str) -> tuple:
    try:
        parts = [int(v) for v in text.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 112 or 112x96, got {text!r}") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 8:
        raise argparse.ArgumentTypeError(f"size must look like 112 or 112x96 (>= 8 px), got {text!r}")
    return tuple(parts)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="lrface-prepare",
        description="Turn SRC/<identity>/<image> into aligned crops DST/<identity>/<image>.jpg "
        "plus DST/manifest.csv (source,output,status,score,...). Resumable: rerun to continue.",
    )
    p.add_argument("src", help="raw dataset root: SRC/<identity>/<image>")
    p.add_argument("dst", help="output root (created)")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")
    p.add_argument("--min-face", type=int, default=20, help="smallest face searched for, px (default 20)")
    p.add_argument("--policy", choices=POLICIES, default="largest",
                   help="which face to keep when several are found (default: largest)")
    p.add_argument("--size", type=_size, default=(112, 112), help="crop size: 112 or 112x96 (default 112)")
    p.add_argument("--thresholds", type=float, nargs=3, default=(0.6, 0.7, 0.7), metavar=("P", "R", "O"),
                   help="MTCNN stage thresholds (default 0.6 0.7 0.7)")
    p.add_argument("--pad-retry", type=float, nargs="*", default=[0.1, 0.3], metavar="FRAC",
                   help="if no face is found, retry with a border of each fraction in turn "
                        "(tight crops; default 0.1 0.3; none = off)")
    p.add_argument("--landmarks", help="CSV path,x1,y1,...,x5,y5 (relative to SRC): align with these, no detection")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality of the crops (default 95)")
    p.add_argument("--limit", type=int, help="process only the first N images (sorted)")
    p.add_argument("--overwrite", action="store_true", help="ignore an existing manifest and start again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def _main(argv: Optional[Sequence[str]]) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    settings = PrepareSettings(
        size=args.size, policy=args.policy, min_face_size=args.min_face,
        thresholds=tuple(args.thresholds), pad_retry=tuple(args.pad_retry), quality=args.quality,
        landmarks_file=args.landmarks,
    )
    summary = prepare_dataset(args.src, args.dst, settings=settings, workers=args.workers,
                              limit=args.limit, overwrite=args.overwrite,
                              progress=not args.no_progress and sys.stderr.isatty())
    print(summary.format())
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
