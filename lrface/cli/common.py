"""Small helpers shared by the command-line tools.

Error policy of every ``lrface-*`` command (see docs/api.md, "Command-line errors"):

* a user error (bad option, unknown model/architecture/preset, missing or unreadable file,
  bad dataset layout, missing weights) prints **one line** ``error: ...`` on stderr and
  exits with code 2, never a traceback;
* a genuine bug (any other exception) keeps its traceback and exits 1, so it can be reported;
* ``LRFACE_DEBUG=1`` shows the traceback of user errors too;
* Ctrl-C prints one line and exits 130 (rerunning resumes where that makes sense).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import Callable, NoReturn, Optional, Sequence

from lrface.errors import LrfaceError

#: Exit code of every user error (argparse uses 2 as well).
USAGE_ERROR = 2


def setup_logging(verbose: int = 0) -> None:
    """Log to stderr: warnings by default, INFO with -v, DEBUG with -vv."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one ``error: ...`` line (exit 2).

    argparse's default prints the usage block and ``prog: error: ...``; the lrface commands
    answer every bad argument the same way, whether argparse or the command finds it.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"error: {self.prog}: {_one_line(message)} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """argparse ``type=``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def check_files_exist(paths: Sequence[str], what: str = "input") -> None:
    """Fail early (before a model is loaded) when a named input file is missing.

    Raises:
        ImageReadError: the first missing path, or a folder where a file was expected.
    """
    from pathlib import Path

    from lrface.errors import ImageReadError

    for p in paths:
        path = Path(p)
        if not path.exists():
            raise ImageReadError(f"{what} {p}: no such file")
        if path.is_dir():
            raise ImageReadError(f"{what} {p}: is a folder, expected an image file")


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip()) or "(no message)"


def user_error_message(exc: BaseException) -> Optional[str]:
    """The one-line message for an exception caused by the user, or ``None`` for a bug.

    User errors: :class:`~lrface.errors.LrfaceError` (and its subclasses), ``ValueError``
    (bad option values), ``OSError`` (missing file, permission denied, disk full, ...), and a
    ``KeyError`` raised by a :class:`~lrface.registry.Registry` for an unknown name (its
    message starts with ``"unknown "``). Any other ``KeyError`` is a bug.
    """
    if isinstance(exc, KeyError):
        msg = exc.args[0] if len(exc.args) == 1 else None
        return _one_line(msg) if isinstance(msg, str) and msg.startswith("unknown ") else None
    if isinstance(exc, OSError) and not isinstance(exc, LrfaceError) and exc.filename is not None:
        # "[Errno 2] No such file or directory: 'x'" -> "x: no such file or directory"
        names = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
        return _one_line(f"{names}: {(exc.strerror or str(exc)).lower()}")
    if isinstance(exc, (LrfaceError, ValueError, OSError)):
        return _one_line(str(exc))
    return None


def run_cli(body: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> int:
    """Run a CLI body; user-facing errors become one line on stderr and exit code 2.

    Tracebacks are for bugs: an :class:`LrfaceError` (bad input, bad layout, missing
    weights), a ``ValueError`` raised for bad options, an ``OSError`` about a file, or an
    unknown registry name is a message, not a stack dump. Set ``LRFACE_DEBUG=1`` to see the
    traceback anyway.
    """
    try:
        return body(argv)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume where it stopped", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - sorted into user errors and bugs below
        msg = user_error_message(e)
        if msg is None:
            raise  # a bug: keep the traceback
        if os.environ.get("LRFACE_DEBUG"):
            traceback.print_exc()
        print(f"error: {msg}", file=sys.stderr)
        return USAGE_ERROR
