"""Where a result came from: commit (with a dirty flag), date, command and versions.

Every result file under ``benchmarks/results/`` and every training run records these, so a
published figure can be traced to the exact code and command that produced it (DESIGN
convention 15).

Example:
    >>> sorted(provenance("lrface-bench --dataset lfw"))[:3]
    ['command', 'commit', 'cpu_threads']
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

_HERE = Path(__file__).resolve().parent


def _git(*args: str) -> Optional[str]:
    try:
        out = subprocess.run(["git", *args], cwd=_HERE, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> str:
    """Short commit of the lrface checkout, or ``"unknown"`` outside git."""
    return _git("rev-parse", "--short", "HEAD") or "unknown"


def git_dirty() -> Optional[bool]:
    """``True`` when tracked files differ from the commit; ``None`` outside git."""
    out = _git("status", "--porcelain", "--untracked-files=no")
    return None if out is None else bool(out)


def versions() -> Dict[str, str]:
    """Versions of lrface and the libraries that decide its numbers."""
    import numpy
    import torch

    from lrface import __version__

    out = {"lrface": __version__, "torch": str(torch.__version__), "numpy": str(numpy.__version__),
           "python": platform.python_version()}
    try:
        import cv2

        out["opencv"] = cv2.__version__
    except ImportError:  # pragma: no cover - a hard dependency, kept defensive
        pass
    return out


def provenance(command: Optional[str] = None, argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Flat dict: ``commit``, ``dirty``, ``date`` (UTC), ``command``, ``<lib>_version``s,
    ``machine`` and ``cpu_threads``.

    Args:
        command: the command line to record; default: this process's ``sys.argv``, with the
            program name shortened to its base name (``lrface-bench ...``).
        argv: an explicit argument list to record instead (quoted as a shell would).
    """
    if command is None:
        args = list(sys.argv if argv is None else argv)
        if args:
            args[0] = Path(args[0]).name
        command = shlex.join(args)
    import torch

    info: Dict[str, Any] = {
        "commit": git_commit(),
        "dirty": git_dirty(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }
    info.update({f"{k}_version": v for k, v in versions().items()})
    info["machine"] = f"{platform.machine()} {os.cpu_count()} cpus"
    info["cpu_threads"] = torch.get_num_threads()
    return info
