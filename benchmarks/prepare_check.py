"""Run ``lrface-prepare`` on a dataset and check its manifest locates every crop.

Runs the prepare CLI into a fresh folder, then opens every ``ok`` row's ``output`` joined to
DST and checks it is a 112x112 RGB image. Writes a JSON result (counts, throughput, the
check, provenance) for ``docs/results.md``.

Usage::

    python benchmarks/prepare_check.py ../shared/data/pins --limit 500 --out benchmarks/results/prepare_pins500.json
    python benchmarks/prepare_check.py ../shared/data/orl --out benchmarks/results/prepare_orl.json
"""
from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import tempfile
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src")
    p.add_argument("--limit", type=int)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    from lrface.cli.prepare import main as prepare_main
    from lrface.face.io import read_image
    from lrface.provenance import provenance

    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / "aligned"
        cli = [args.src, str(dst), "--workers", str(args.workers), "--no-progress"]
        if args.limit:
            cli += ["--limit", str(args.limit)]
        rc = prepare_main(cli)
        if rc != 0:
            return rc
        summary = json.loads((dst / "prepare.json").read_text()).get("summary", {})
        with (dst / "manifest.csv").open() as f:
            rows = list(csv.DictReader(f))
        ok = [r for r in rows if r["status"] == "ok"]
        bad = []
        for r in ok:
            try:
                img = read_image(dst / r["output"])
                if img.shape != (112, 112, 3):
                    bad.append(f"{r['output']}: shape {img.shape}")
            except Exception as e:  # any failure to open is a finding, reported below
                bad.append(f"{r['output']}: {e}")
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "no_face", "unreadable")}
    result = {"src": args.src, "limit": args.limit, "rows": len(rows), **counts,
              "ok_outputs_opened_112x112": len(ok) - len(bad), "ok_outputs_failed": bad[:20],
              "images_per_second": summary.get("images_per_second"),
              **provenance(command="python benchmarks/prepare_check.py " + shlex.join(argv or sys.argv[1:]))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(rows)} rows: ok={counts['ok']} no_face={counts['no_face']} unreadable={counts['unreadable']}; "
          f"{len(ok) - len(bad)}/{len(ok)} ok outputs open as 112x112 under DST; wrote {args.out}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
