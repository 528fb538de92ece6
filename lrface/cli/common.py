"""Small helpers shared by the command-line tools."""
from __future__ import annotations

import logging
import sys
from typing import Callable, Optional, Sequence

from lrface.errors import LrfaceError


def setup_logging(verbose: int = 0) -> None:
    """Log to stderr: warnings by default, INFO with -v, DEBUG with -vv."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def run_cli(body: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> int:
    """Run a CLI body; user-facing errors become one line on stderr and exit code 2.

    Tracebacks are for bugs: an :class:`LrfaceError` (bad input, bad layout, missing
    weights) or a ``ValueError`` raised for bad options is a message, not a stack dump.
    """
    try:
        return body(argv)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume where it stopped", file=sys.stderr)
        return 130
    except (LrfaceError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
