"""``lrface-convert SRC OUT.pt``: import a public face model as a safe, verified state dict.

SRC may be an insightface MXNet model (folder, or prefix of ``*-symbol.json`` + ``*.params``),
an arcface_torch ``backbone.pth``, or a legacy pickled checkpoint (needs ``--trust``: pickle
can run code, so only convert files whose origin you trust; the output never needs it).
OUT.pt is a plain tensor state dict; a manifest entry (architecture, preprocessing, sha256,
provenance) is added to ``MANIFEST.yaml`` beside it, so ``lrface.load_model(OUT.pt)`` opens
it with ``weights_only=True`` after checking the sha256.

Example::

    lrface-convert ../shared/data/teachers/mobilefacenet_y1 ~/lrface-weights/y1.pt
"""
from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from lrface.cli.common import ArgumentParser, run_cli, setup_logging


def convert_to_file(src: str, out: str, arch: Optional[str] = None, name: Optional[str] = None,
                    trust: bool = False) -> Dict[str, Any]:
    """Convert ``src`` and write ``out`` plus its manifest entry; returns the entry."""
    import torch

    from lrface import __version__
    from lrface.models.convert import convert
    from lrface.models.weights import sha256_file, write_manifest_entry

    conv = convert(src, arch=arch, trust=trust)
    out_p = Path(out)
    if out_p.suffix != ".pt":
        raise ValueError(f"OUT must end in .pt, got {out_p.name}")
    out_p.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_p.with_name(f".{out_p.name}.tmp")
    torch.save({k: v.detach().cpu().contiguous() for k, v in conv.state_dict.items()}, tmp)
    tmp.replace(out_p)
    entry: Dict[str, Any] = {"file": out_p.name, "arch": conv.arch, **conv.cfg.as_dict(),
                             "sha256": sha256_file(out_p),
                             "provenance": {"source": str(Path(src).resolve()), "source_kind": conv.kind,
                                            "converted_by": f"lrface {__version__}",
                                            "date": _dt.date.today().isoformat()}}
    write_manifest_entry(out_p.parent, name or out_p.stem, entry)
    return entry


def _check_arch(arch: str) -> None:
    """Fail before reading SRC when ``--arch`` names no registered architecture."""
    import difflib

    from lrface.models import list_models as list_architectures

    known = list_architectures()
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown architecture {arch!r} for --arch.{hint} Known: {', '.join(known)}")


def _main(argv: Optional[Sequence[str]]) -> int:
    p = ArgumentParser(prog="lrface-convert", description=__doc__.split("\n\n")[0])
    p.add_argument("src", help="MXNet folder/prefix, backbone.pth, or legacy checkpoint")
    p.add_argument("out", help="output .pt (a MANIFEST.yaml entry is written beside it)")
    p.add_argument("--arch", help="architecture name (see lrface.list_models()); inferred when possible")
    p.add_argument("--name", help="manifest name (default: OUT's stem)")
    p.add_argument("--trust", action="store_true", help="allow unpickling a legacy checkpoint")
    p.add_argument("-v", "--verbose", action="count", default=0)
    args = p.parse_args(argv)
    setup_logging(args.verbose)
    if args.arch is not None:
        _check_arch(args.arch)
    entry = convert_to_file(args.src, args.out, arch=args.arch, name=args.name, trust=args.trust)
    print(f"wrote {args.out} ({entry['arch']}, {entry['input_size'][0]}x{entry['input_size'][1]}, "
          f"{entry['embedding_size']}-D, sha256 {entry['sha256'][:12]}...) and its entry in "
          f"{Path(args.out).parent / 'MANIFEST.yaml'}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
