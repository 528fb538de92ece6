"""The simulated surveillance protocol (``lfw-surveillance``) with the shipped models.

For each shipped student: gallery = one 112 px LFW image per identity (of the 1,680 with two or
more), embedded by the shipped HR model; probes = all their other images degraded with the
``surveillance`` preset (blur, noise, JPEG) to the student's size, embedded by the student.
Beside it, the naive baseline: the y1 teacher on both sides (probes upsampled back to 112).
Closed-set rank-1 / rank-5, flip-TTA.

Usage::

    python benchmarks/zoo_surveillance.py --teacher weights-local/y1.pt --out benchmarks/results/zoo_surveillance.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="weights-local/y1.pt", help="the naive baseline's model")
    p.add_argument("--out", required=True)
    p.add_argument("--cache", default=None)
    args = p.parse_args(argv)
    import os

    from lrface.bench import run
    from lrface.models.weights import PACKAGE_WEIGHTS, read_manifest

    cache = Path(args.cache or os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    shipped = read_manifest(PACKAGE_WEIGHTS)
    hr = next(n for n, e in shipped.items() if e.meta.get("role") == "assistant")
    students = sorted(((int(e.meta["default_for_res"][0]), n) for n, e in shipped.items() if n != hr))
    rows: List[Dict[str, Any]] = []
    for res, name in students:
        for model, hr_model, label in ((name, hr, "shipped"), (f"teacher:{args.teacher}", None, "naive")):
            kw = dict(mode="hr-lr", hr_model=hr_model) if hr_model else {}
            r = run("lfw-surveillance", [res], [model], flip=True, cache_dir=cache, **kw)[0]
            rows.append({"kind": label, "res": res, "model": name if label == "shipped" else "y1 teacher",
                         "gallery_model": hr if label == "shipped" else "y1 teacher",
                         **{k: r[k] for k in ("rank1", "rank5", "n_gallery", "n_probes", "commit", "dirty", "date")
                            if k in r},
                         "command": "python benchmarks/zoo_surveillance.py --out benchmarks/results/zoo_surveillance.json"})
            print(f"{res} px {label}: rank-1 {100 * r['rank1']:.2f}%", flush=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
