"""``lrface-bench``: how well does a model recognise faces at a given low resolution?

Examples::

    lrface-bench --dataset lfw --res 16                        # shipped default student
    lrface-bench --dataset lfw --res 8 12 16 24 32 --model teacher:y1.pt --flip
    lrface-bench --dataset lfw --res 112 --mode hr-hr --model y1.pt --flip
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from lrface.cli.common import ArgumentParser, run_cli, setup_logging
from lrface.settings import cache_dir


def build_parser() -> argparse.ArgumentParser:
    from lrface.eval.protocols import MODES, list_protocols
    from lrface.face.degrade import list_presets

    p = ArgumentParser(prog="lrface-bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Datasets: " + ", ".join(list_protocols()) + ". See docs/protocols.md.")
    p.add_argument("--dataset", required=True, choices=list_protocols(), help="protocol / dataset")
    p.add_argument("--res", type=int, nargs="+", required=True,
                   help="LR face sizes in px; 112 with a 112-input model means full resolution")
    p.add_argument("--model", nargs="+", default=[],
                   help="model names or .pt paths (teacher:X = HR model on upsampled LR); default: the shipped student per res")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="which side is LR (default: the protocol's own: lr-lr for lfw; hr-lr for scface, uccs "
                        "and lfw-surveillance, which run galleries of HR faces)")
    p.add_argument("--hr-model", help="hr-lr: embed the HR side with this model (e.g. the teacher a student was "
                                      "distilled from) instead of the model under test")
    p.add_argument("--root", help="dataset folder (default: $LRFACE_DATA/<dataset> or ../shared/data/<dataset>)")
    p.add_argument("--degrade", default="area", choices=list_presets(), help="degradation preset (default area)")
    p.add_argument("--flip", action="store_true", help="flip-TTA: add the mirrored face's embedding")
    p.add_argument("--pairs", help="LFW pair list inside ROOT (default pairs.txt; View 1: pairsDevTest.txt)")
    p.add_argument("--max-identities", type=int,
                   help="lfw-surveillance: evaluate a seeded random subset of this many identities")
    p.add_argument("--out", default="out/bench", help="folder for results.csv/json and curves.png")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--cache", default=str(cache_dir()),
                   help="cache folder for aligned faces and embeddings ($LRFACE_CACHE)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--trust", action="store_true", help="allow unverified / pickled weight files")
    p.add_argument("--calibrate", action="store_true",
                   help="lfw: store the 10-fold verification threshold in the model's manifest entry "
                        "(used by lrface.verify); needs one model and one resolution")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def _main(argv: Optional[Sequence[str]]) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from lrface.bench import format_table, run, write_results

    from lrface.eval.protocols import PROTOCOLS, list_protocols

    proto_cls = PROTOCOLS.get(args.dataset)
    # options go to the protocols whose constructors take them (no dataset names here)
    kwargs = {}
    for opt, value in (("pairs", args.pairs), ("max_identities", args.max_identities)):
        if value is None:
            continue
        if opt not in proto_cls.options():
            takers = [n for n in list_protocols() if opt in PROTOCOLS.get(n).options()]
            raise ValueError(f"--{opt.replace('_', '-')} applies to --dataset {' / '.join(takers)} only")
        kwargs[opt] = value
    res_list = [None if (args.mode == "hr-hr") else r for r in args.res]
    # 112 with LR modes means "no degradation": evaluate as hr-hr where the protocol runs it.
    mode = args.mode
    if mode != "hr-hr" and "hr-hr" in proto_cls.modes and all(r == 112 for r in args.res):
        mode, res_list = "hr-hr", [None]
    rows = run(
        args.dataset, res_list, args.model, mode=mode, root=args.root, degrade_preset=args.degrade,
        flip=args.flip, device=args.device, batch_size=args.batch_size,
        cache_dir=None if args.no_cache else Path(args.cache), protocol_kwargs=kwargs, trust=args.trust,
        hr_model=args.hr_model,
        progress=lambda s: print(f"... {s}", file=sys.stderr, flush=True),
    )
    for r in rows:
        if r.get("res") is None and mode == "hr-hr":
            r["res"] = 112
    print(format_table(rows))
    if args.calibrate:
        print(calibrate(rows, args))
    paths = write_results(rows, Path(args.out))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def calibrate(rows: list, args: argparse.Namespace) -> str:
    """Write the LFW threshold of the single (model, res) row into the model's manifest."""
    from lrface.models.weights import read_manifest, write_manifest_entry

    if len(rows) != 1 or "threshold" not in rows[0]:
        raise ValueError("--calibrate needs a verification protocol (--dataset lfw) with exactly one model and one --res")
    row = rows[0]
    path = Path(args.model[0].split(":", 1)[-1]) if args.model else None
    entries = read_manifest(path.parent) if path is not None and path.suffix == ".pt" else {}
    entry = next((e for e in entries.values() if e.path.resolve() == path.resolve()), None) if path else None
    if entry is None:
        raise ValueError("--calibrate needs --model PATH.pt with an entry in the MANIFEST.yaml beside it")
    meta = dict(entry.meta)
    meta["threshold"] = round(float(row["threshold"]), 6)
    meta["threshold_source"] = (f"lfw {row['mode']} res={row['res']} flip={row['flip']} 10-fold mean of "
                                f"per-fold best thresholds, accuracy {row['accuracy']:.4f}, commit {row['commit']}")
    write_manifest_entry(path.parent, entry.name, meta)
    return f"stored threshold {meta['threshold']} for {entry.name} in {path.parent / 'MANIFEST.yaml'}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
