"""``lrface-verify A B``: are two faces the same person? Score, decision, threshold, models.

Each input may be a photo (the face is found and aligned; faces from about 12 px up) or a
tight crop (``--no-align``). With no ``--model`` each face goes to the shipped model that fits
its size (a 16 px camera face to ``lrface-lr``, or with ``--fast`` to the 16 px student; an ID
photo to ``lrface-hr``), all in one embedding space. The decision uses the threshold calibrated
for ``--far`` (1e-3 by default, 1e-2 or 1e-4) for that pair of models and face sizes, or
``--threshold``; the score is also given as the false accept rate it corresponds to.

Exit code 0 = same, 1 = different, 2 = error (unreadable input, no face, bad option), so
scripts can branch on it; without any threshold it prints the score and exits 0.

Example (the output's shape; the numbers depend on the faces)::

    $ lrface-verify id_photo.jpg camera_crop.png --no-align-b
    score S (false accept rate at this score: F)  same  (threshold T at FAR 1e-3)
    A id_photo.jpg: lrface-hr, face 112 px, quality Q
    B camera_crop.png: lrface-lr, face 16 px, seen at 16 px, quality Q
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from lrface.cli.common import ArgumentParser, check_files_exist, run_cli, setup_logging
from lrface.cli.embed import add_model_args, model_kwargs


def _main(argv: Optional[Sequence[str]]) -> int:
    p = ArgumentParser(prog="lrface-verify", description=__doc__.split("\n\n")[0])
    p.add_argument("a", help="first face (photo or crop)")
    p.add_argument("b", help="second face (photo or crop)")
    p.add_argument("--far", type=float, default=1e-3, choices=(1e-2, 1e-3, 1e-4),
                   help="false accept rate of the calibrated threshold (default 1e-3)")
    p.add_argument("--threshold", type=float, help="decision threshold (overrides --far)")
    p.add_argument("--no-align-a", action="store_true", help="only A is a tight face crop")
    p.add_argument("--no-align-b", action="store_true", help="only B is a tight face crop")
    add_model_args(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    check_files_exist([args.a, args.b])
    from lrface.api import verify
    from lrface.eval.metrics import rate_key

    kw = model_kwargs(args)
    r = verify(args.a, args.b, model=kw["model"], res=kw["res"], threshold=args.threshold, prefer=kw["prefer"],
               align=(not (args.no_align or args.no_align_a), not (args.no_align or args.no_align_b)), far=args.far)
    verdict = "no decision (no calibrated threshold)" if r.same is None else ("same" if r.same else "different")
    how = ("" if r.threshold is None else f"  (threshold {r.threshold:.4f}"
           + (f" at FAR {rate_key(r.far)})" if r.far is not None else ", given)"))
    far_txt = f" (false accept rate at this score: {r.score_far:.1e})" if r.score_far is not None else ""
    print(f"score {r.score:.4f}{far_txt}  {verdict}{how}")
    for tag, path, info in zip("AB", (args.a, args.b), r.faces):
        size = f"face {info.face_px:.0f} px" + (f" (found at {info.upsampled:g}x)" if info.upsampled > 1 else
                                                 " (a small image: taken as a tight face crop)" if info.upsampled == 0 else "")
        res = f", seen at {info.res} px" if info.res is not None else ""
        print(f"{tag} {path}: {info.model}, {size}{res}, quality {info.quality:.2f}")
    return 0 if r.same in (True, None) else 1  # errors exit 2 (run_cli)


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
