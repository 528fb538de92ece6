"""Small helpers shared by the command-line tools.

Error policy of every ``lrface-*`` command (see docs/api.md, "Command-line errors"):

* a user error (bad option, unknown model/architecture/preset, missing or unreadable file,
  bad dataset layout, missing weights) prints **one line** ``error: ...`` on stderr and
  exits with code 2, never a traceback;
* a genuine bug (any other exception) prints its traceback, so it can be reported, and exits 2
  as well: every command exits 2 on any error (``lrface-verify`` keeps 1 for "different");
* messages written for Python callers (``align=False``) name the command's flags instead
  (``--no-align``, :data:`FLAG_HINTS`);
* ``LRFACE_DEBUG=1`` shows the traceback of user errors too;
* Ctrl-C prints one line and exits 130 (rerunning resumes where that makes sense).
"""
from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

import numpy as np

from lrface.errors import LrfaceError
from lrface.settings import debug

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


#: Python-API wording in library messages -> the command-line flag that does the same.
FLAG_HINTS: Tuple[Tuple[str, str], ...] = (
    ("pass align=False for pre-aligned crops", "pass --no-align for pre-aligned crops"),
    ("align=False", "--no-align"),
    ("pass trust=True", "pass --trust"),
    ("trust=True", "--trust"),
    ("pass arch=NAME", "pass --arch NAME"),
    ("pass model= (a name or a .pt path)", "pass --model NAME_OR_PT"),
    ("pass model=", "pass --model"),
    (", or on_no_face='nan' to get a NaN row instead", ""),
)


def as_cli_message(text: str) -> str:
    """A library message as a command-line user should read it (flags, not keyword arguments)."""
    for api, flag in FLAG_HINTS:
        text = text.replace(api, flag)
    return text


def run_cli(body: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> int:
    """Run a CLI body; every error becomes exit code 2: a user error one line on stderr, a
    bug its traceback and one line saying so.

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
        if msg is None:  # a bug: keep the traceback for the report
            traceback.print_exc()
            print(f"error: internal error ({type(e).__name__}); this is a bug in lrface, please report it with the "
                  "traceback above", file=sys.stderr)
            return USAGE_ERROR
        if debug():
            traceback.print_exc()
        print(f"error: {as_cli_message(msg)}", file=sys.stderr)
        return USAGE_ERROR


def gather_images(inputs: Sequence[str]) -> List[str]:
    """Image files named on the command line: files as given, folders searched recursively
    (hidden entries skipped, image suffixes only, sorted). Missing inputs are an error."""
    from pathlib import Path

    from lrface.errors import ImageReadError
    from lrface.face.io import IMAGE_SUFFIXES

    out: List[str] = []
    for p in inputs:
        path = Path(p)
        if path.is_dir():
            found = sorted(str(f) for f in path.rglob("*")
                           if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                           and not any(part.startswith(".") for part in f.relative_to(path).parts))
            if not found:
                raise ImageReadError(f"input folder {p}: no image files in it")
            out.extend(found)
        elif path.exists():
            out.append(str(path))
        else:
            raise ImageReadError(f"input {p}: no such file or folder")
    return out


def embed_files(paths: Sequence[str], progress: bool = True, chunk: int = 32, desc: str = "embedding",
                **embed_kw: object) -> Tuple[np.ndarray, List[object], Dict[str, str]]:
    """Embed many files with a progress bar; a file that cannot be read or has no face is
    reported, not fatal.

    Returns:
        ``(embeddings (N, D) with NaN rows for failures, [FaceInfo] per file,
        {path: reason} for every file without an embedding)``.
    """
    from tqdm import tqdm

    from lrface.api import embed

    rows: List[np.ndarray] = []
    infos: List[object] = []
    failed: Dict[str, str] = {}
    bar = tqdm(total=len(paths), desc=desc, unit="img", disable=not progress or len(paths) < 2, file=sys.stderr)
    for s in range(0, len(paths), chunk):
        part = list(paths[s : s + chunk])
        # on_no_face="nan": an unreadable file or a photo without a face costs its own row only
        e, inf = embed(part, on_no_face="nan", return_info=True, **embed_kw)
        rows.append(e)
        infos.extend(inf)
        for path, i in zip(part, inf):
            if not getattr(i, "found", False):
                why = getattr(i, "error", None) or "no face found"
                failed[path] = _one_line(why.replace(f"{path}: ", ""))
        bar.update(len(part))
    bar.close()
    dim = rows[0].shape[1] if rows else 128
    emb = np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)
    return emb, infos, failed
