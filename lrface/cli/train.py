"""``lrface-train``: distil an HR teacher into an LR student (``distill``), train /
fine-tune an HR model on identity folders with a margin head (``teacher``), or adapt a
pretrained HR model to low-resolution faces (``adapt``).

Examples::

    lrface-train distill --config benchmarks/configs/smoke.yaml            # a minute, no data needed
    lrface-train distill --config benchmarks/configs/celeba16.yaml --set optim.epochs=4
    torchrun --nproc_per_node 2 $(which lrface-train) distill --config benchmarks/configs/smoke.yaml
    lrface-train teacher --config benchmarks/configs/teacher_smoke.yaml
    lrface-train adapt --config benchmarks/configs/adapt_smoke.yaml          # a minute, no data needed

Running the same command again resumes an interrupted run from ``DIR/last.pt``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from lrface.cli.common import ArgumentParser, run_cli, setup_logging


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="lrface-train", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("distill", "teacher (+ assistant) -> LR student"),
                       ("teacher", "train or fine-tune an HR model with a margin head (ArcFace)"),
                       ("adapt", "fine-tune a pretrained HR model on LR views towards its own HR embeddings")):
        d = sub.add_parser(name, help=text)
        d.add_argument("--config", required=True, help="YAML config (see benchmarks/configs/)")
        d.add_argument("--out", help="run folder (default runs/<config name>)")
        d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value, e.g. --set optim.lr=0.05 (repeatable)")
        d.add_argument("--no-progress", action="store_true", help="no progress bar")
        d.add_argument("-v", "--verbose", action="count", default=1)
    return p


def _main(argv: Optional[Sequence[str]]) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    from lrface.config import load_config
    from lrface.distill.config import AdaptConfig, DistillConfig, TeacherConfig
    from lrface.distill.loop import train_distill

    if args.command == "teacher":
        tcfg = load_config(TeacherConfig, args.config, args.set)
        cfg, product = tcfg.to_distill(), "teacher"
    elif args.command == "adapt":
        cfg, product = load_config(AdaptConfig, args.config, args.set).to_distill(), "adapted"
    else:
        cfg, product = load_config(DistillConfig, args.config, args.set), "student"
    out = Path(args.out) if args.out else Path("runs") / cfg.name
    path = train_distill(cfg, out, progress=not args.no_progress, product=product)
    if os.environ.get("RANK", "0") == "0":  # torchrun: one line, from rank 0
        print(f"wrote {path} (manifest: {path.parent / 'MANIFEST.yaml'})")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
