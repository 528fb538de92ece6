"""``lrface-search --gallery G --probe P``: 1:N search of probe faces in an enrolled gallery.

The gallery is a folder ``G/<identity>/<image>`` (embedded and cached as ``G.npz`` beside it
when ``--save`` is given) or an ``.npz`` written by :meth:`lrface.Gallery.save`.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from lrface.cli.common import ArgumentParser, check_files_exist, positive_int, run_cli, setup_logging
from lrface.cli.embed import add_model_args


def _main(argv: Optional[Sequence[str]]) -> int:
    p = ArgumentParser(prog="lrface-search", description=__doc__.split("\n\n")[0])
    p.add_argument("--gallery", required=True, help="folder G/<identity>/<image> or a gallery .npz")
    p.add_argument("--probe", required=True, nargs="+", help="probe image files")
    p.add_argument("-k", type=positive_int, default=5, help="results per probe")
    p.add_argument("--save", help="write the embedded gallery to this .npz")
    add_model_args(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    check_files_exist(args.probe, "probe")
    if not Path(args.gallery).exists():
        raise FileNotFoundError(2, "no such gallery folder or .npz", args.gallery)
    from lrface.api import Gallery, embed
    from lrface.data.folder import scan_identity_folders

    kw = dict(model=args.model, res=args.res, align=not args.no_align, device=args.device)
    if Path(args.gallery).suffix == ".npz":
        g = Gallery.load(args.gallery)
    else:
        samples = scan_identity_folders(args.gallery)
        e = embed([str(s.path) for s in samples], on_no_face="nan", **kw)
        ok = ~np.isnan(e).any(axis=1)
        g = Gallery()
        g.add(e[ok], [s.identity for s, k in zip(samples, ok) if k])
        if args.save:
            g.save(args.save)
    probes = embed(args.probe, on_no_face="nan", **kw)
    for path, row in zip(args.probe, probes):
        if np.isnan(row).any():
            print(f"{path}: no face found")
            continue
        hits = g.search(row, k=args.k)[0]
        print(f"{path}: " + ", ".join(f"{label} ({score:.3f})" for label, score in hits))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
