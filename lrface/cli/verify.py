"""``lrface-verify A B``: are two face photos the same person? Prints the cosine score.

Exit code 0 = same, 1 = different (at the model's calibrated or the given threshold), so
scripts can branch on it; without any threshold it prints the score and exits 0.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from lrface.cli.common import ArgumentParser, check_files_exist, run_cli, setup_logging
from lrface.cli.embed import add_model_args


def _main(argv: Optional[Sequence[str]]) -> int:
    p = ArgumentParser(prog="lrface-verify", description=__doc__.split("\n\n")[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--threshold", type=float, help="decision threshold (default: the model's manifest)")
    add_model_args(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    check_files_exist([args.a, args.b])
    from lrface.api import verify

    r = verify(args.a, args.b, model=args.model, res=args.res, threshold=args.threshold, align=not args.no_align)
    verdict = "unknown (no threshold)" if r.same is None else ("same" if r.same else "different")
    print(f"score {r.score:.4f}  threshold {r.threshold if r.threshold is not None else '-'}  {verdict}")
    return 0 if r.same in (True, None) else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
