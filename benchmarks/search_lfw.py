"""``lrface-search`` over all 5,749 LFW identities: one 112 px ID photo each, 16 px probes.

Builds a gallery folder ``G/<name>/<first image>`` (symlinks to the aligned LFW crops: the HR
model embeds them) and a probe folder with every other LFW image of the 1,680 people who have
more than one, degraded to ``--res`` px (area) and written as PNG crops (the student for
that size embeds them, ``--no-align-probe``). Then runs the real command::

    lrface-search --gallery G --save G.npz --probe P --no-align --no-align-probe -k 5 --quiet

and reads its output: rank-1 and rank-5 (closed set: every probe's identity is enrolled), the
open-set decision rate at FAR 1e-3, and the time per probe that the command reports
(embedding + search), plus the whole command's wall time.

Usage::

    python benchmarks/search_lfw.py --res 16 --out benchmarks/results/search_lfw_16.json
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--res", type=int, default=16)
    p.add_argument("--out", required=True)
    p.add_argument("--work", help="folder for the gallery and probes (default: a temporary one)")
    args = p.parse_args(argv)

    from lrface.eval.protocols.base import resolve_root
    from lrface.face.degrade import degrade
    from lrface.face.io import read_image, write_image
    from lrface.provenance import provenance

    root = resolve_root(None, "lfw")
    images = root / "images" if (root / "images").is_dir() else root
    people = sorted(d for d in images.iterdir() if d.is_dir())
    work = Path(args.work or tempfile.mkdtemp(prefix="lrface-search-"))
    gal, probes = work / "gallery", work / "probes"
    n_probe = 0
    for d in people:
        files = sorted(d.glob("*.jpg"))
        (gal / d.name).mkdir(parents=True, exist_ok=True)
        link = gal / d.name / files[0].name
        if not link.exists():
            os.symlink(files[0].resolve(), link)
        for f in files[1:]:
            out = probes / f"{d.name}__{f.stem}.png"
            if not out.exists():
                write_image(out, degrade(read_image(f), args.res, "area"))
            n_probe += 1
    cmd = ["lrface-search", "--gallery", str(gal), "--save", str(work / "gallery.npz"), "--probe", str(probes),
           "--no-align", "--no-align-probe", "-k", "5", "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"lrface-search failed: {proc.stderr}")
    rank1 = rank5 = accepted = searched = 0
    for line in proc.stdout.splitlines():
        m = re.match(r"(.+?\.png): (\S+)\s+\[(.*)\]", line)
        if not m:
            continue
        truth = Path(m.group(1)).name.split("__")[0]
        top = [c.rsplit(" ", 1)[0] for c in m.group(3).split(", ")]
        searched += 1
        rank1 += top[0] == truth
        rank5 += truth in top
        accepted += m.group(2) != "unknown"
    per = re.search(r"([\d.]+) ms per probe", proc.stdout)
    row = {"res": args.res, "gallery_identities": len(people), "probes": n_probe, "searched": searched,
           "rank1": rank1 / searched, "rank5": rank5 / searched, "accepted_at_far_1e-3": accepted / searched,
           "ms_per_probe": float(per.group(1)) if per else None, "command_seconds": round(wall, 1),
           "command": " ".join(cmd[:1] + ["--gallery", "G", "--save", "G.npz", "--probe", "P"] + cmd[7:]),
           **provenance()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(row, indent=2) + "\n")
    print(f"{len(people)} identities, {searched} probes at {args.res} px: rank-1 {100 * row['rank1']:.2f}%, "
          f"rank-5 {100 * row['rank5']:.2f}%, {row['ms_per_probe']} ms per probe, command {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
