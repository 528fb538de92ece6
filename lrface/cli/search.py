"""``lrface-search --gallery G --probe P...``: who is this? Top-k gallery identities per probe face.

The gallery is a folder ``G/<identity>/<image>`` (ID photos, mugshots; embedded with the
shipped model that fits each photo, usually the HR model) or an ``.npz`` written by
``--save`` / :meth:`lrface.Gallery.save`. Probes are image files or folders: photos or, with
``--no-align``, tight face crops, each embedded by the student that fits its size.

Open set: a probe whose best score is below the threshold calibrated for ``--far`` (for that
gallery model and probe model pair) is reported as ``unknown``. The FAR is per comparison, so
with N gallery identities an unknown person is wrongly matched at a rate up to N x FAR.

Example::

    lrface-search --gallery mugshots/ --save mugshots.npz --probe camera_crops/ --no-align-probe
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from lrface.cli.common import (ArgumentParser, embed_files, gather_images, positive_int, run_cli,
                               setup_logging)
from lrface.cli.embed import add_model_args, model_kwargs


def _main(argv: Optional[Sequence[str]]) -> int:
    p = ArgumentParser(prog="lrface-search", description=__doc__.split("\n\n")[0])
    p.add_argument("--gallery", required=True, help="folder G/<identity>/<image> or a gallery .npz")
    p.add_argument("--probe", required=True, nargs="+", help="probe image files or folders")
    p.add_argument("-k", type=positive_int, default=5, help="results per probe (default 5)")
    p.add_argument("--far", type=float, default=1e-3, choices=(1e-2, 1e-3, 1e-4),
                   help="per-comparison false accept rate of the open-set threshold (default 1e-3)")
    p.add_argument("--threshold", type=float, help="open-set threshold (overrides --far)")
    p.add_argument("--save", help="write the embedded gallery to this .npz (reuse it with --gallery)")
    p.add_argument("--no-align-probe", action="store_true", help="probes are tight face crops (gallery photos are aligned)")
    p.add_argument("--backend", default="numpy", choices=("numpy", "faiss"), help="search backend")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_model_args(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    gpath = Path(args.gallery)
    if not gpath.exists():
        raise FileNotFoundError(2, "no such gallery folder or .npz", args.gallery)
    probes = gather_images(args.probe)
    from lrface.data.folder import scan_identity_folders
    from lrface.gallery import Gallery

    kw = model_kwargs(args)
    if gpath.is_file():
        g = Gallery.load(gpath, backend=args.backend)
    else:
        samples = scan_identity_folders(gpath)
        e, infos, failed = embed_files([str(s.path) for s in samples], progress=not args.quiet, desc="gallery",
                                       align=not args.no_align, flip=True, **kw)
        ok = ~np.isnan(e).any(axis=1)
        g = Gallery(args.backend)
        g.add(e[ok], [s.identity for s, k in zip(samples, ok) if k], [i.model for i, k in zip(infos, ok) if k])
        for path, why in failed.items():
            print(f"gallery {path}: {why}")
        if args.save:
            g.save(args.save)
            print(f"saved the gallery ({len(g)} faces) to {args.save}")
    if not len(g):
        raise ValueError(f"gallery {args.gallery}: no face could be enrolled")
    t0 = time.perf_counter()
    pe, pinfo, pfailed = embed_files(probes, progress=not args.quiet, desc="probes",
                                     align=not (args.no_align or args.no_align_probe), flip=True, **kw)
    ok = ~np.isnan(pe).any(axis=1)
    hits = g.search(pe[ok], k=args.k) if ok.any() else []
    good_infos = [i for i, k in zip(pinfo, ok) if k]
    # with --model the thresholds of the shipped models do not apply: only --threshold decides
    decisions = (g.identify(pe[ok], None if args.model else good_infos, far=args.far, threshold=args.threshold)
                 if ok.any() else [])
    per_probe = (time.perf_counter() - t0) / max(1, len(probes))
    it = iter(zip(hits, decisions))
    for path, info, good in zip(probes, pinfo, ok):
        if not good:
            print(f"{path}: {pfailed.get(path, 'no face found')}")
            continue
        top, d = next(it)
        print(f"{path}: {d.label}  [" + ", ".join(f"{label} {score:.3f}" for label, score in top) + "]"
              + (f"  (threshold {d.threshold:.3f}; {info.model}, face {info.face_px:.0f} px, quality {info.quality:.2f})"
                 if d.threshold is not None else f"  ({info.model}, face {info.face_px:.0f} px)"))
    print(f"{int(ok.sum())} of {len(probes)} probes searched in a gallery of {len(g)} faces; "
          f"{1000 * per_probe:.1f} ms per probe (embedding + search)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
