"""Every command answers a bad argument with one ``error: ...`` line and exit code 2.

Each case runs the real command in a subprocess (``python -m lrface.cli.X``), as a user
would, so import-time warnings or a stray traceback would show up here.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from lrface.cli.common import run_cli, user_error_message

ROOT = Path(__file__).resolve().parent.parent


def _files(tmp: Path) -> Path:
    import torch
    from PIL import Image

    torch.save({"w": torch.zeros(2)}, tmp / "backbone.pth")
    Image.new("RGB", (64, 64)).save(tmp / "a.jpg")
    return tmp


# (command, arguments with {t} = a temporary folder holding backbone.pth and a.jpg, expected text)
CASES = [
    ("prepare", ["{t}/missing_root", "{t}/dst"], "dataset folder not found"),
    ("prepare", ["{t}", "{t}/dst", "--size", "huge"], "size must look like"),
    ("convert", ["{t}/backbone.pth", "{t}/out.pt", "--arch", "typo"], "unknown architecture 'typo'"),
    ("convert", ["{t}/backbone.pth", "{t}/out.pt", "--arch", "iresnet5"], "Did you mean 'iresnet50'"),
    ("convert", ["{t}/missing.pth", "{t}/out.pt"], "not found"),
    ("bench", ["--dataset", "lfw", "--res", "16", "--degrade", "typo"], "invalid choice: 'typo'"),
    ("bench", ["--dataset", "typo", "--res", "16"], "invalid choice: 'typo'"),
    ("bench", ["--dataset", "lfw", "--res", "16", "--model", "iresnet18", "--root", "{t}/no_lfw"], "no_lfw"),
    ("embed", ["{t}/a.jpg", "--out", "{t}/e.npy", "--model", "typo"], "unknown model 'typo'"),
    ("embed", ["{t}/missing.jpg", "--out", "{t}/e.npy"], "missing.jpg: no such file"),
    ("verify", ["{t}/a.jpg", "{t}/missing.jpg"], "missing.jpg: no such file"),
    ("verify", ["{t}/a.jpg", "{t}/a.jpg", "--model", "typo"], "unknown model 'typo'"),
    ("search", ["--gallery", "{t}/no_gallery", "--probe", "{t}/a.jpg"], "no_gallery"),
    ("search", ["--gallery", "{t}", "--probe", "{t}/a.jpg", "-k", "0"], "-k"),
    ("demo", ["--identities", "0", "--out", "{t}/demo"], "--identities"),
    ("demo", ["--unknown-flag"], "unrecognized arguments"),
]


@pytest.fixture(scope="module")
def tmpdir_files(tmp_path_factory) -> Path:
    return _files(tmp_path_factory.mktemp("cli"))


def _ids() -> List[str]:
    return [f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)]


@pytest.mark.parametrize("cli,args,expect", CASES, ids=_ids())
def test_bad_argument_is_one_error_line_and_exit_2(cli: str, args: List[str], expect: str, tmpdir_files: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LRFACE_WEIGHTS": str(tmpdir_files / "no_weights")}
    env.pop("LRFACE_DEBUG", None)
    cmd = [sys.executable, "-m", f"lrface.cli.{cli}", *[a.format(t=tmpdir_files) for a in args]]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=str(tmpdir_files), env=env, timeout=300)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert expect in lines[0], lines[0]


def test_bugs_keep_their_traceback_and_debug_shows_user_errors(capsys, monkeypatch):
    def bug(argv):
        return {}["missing"]  # an internal KeyError is a bug, not a user error

    assert run_cli(bug, []) == 2  # every error exits 2 (lrface-verify keeps 1 for "different")
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError" in err and "this is a bug" in err.splitlines()[-1]

    def user(argv):
        raise KeyError("unknown model 'x'. Known: a, b")

    assert run_cli(user, []) == 2
    assert capsys.readouterr().err == "error: unknown model 'x'. Known: a, b\n"
    monkeypatch.setenv("LRFACE_DEBUG", "1")
    assert run_cli(user, []) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("error: unknown model 'x'. Known: a, b\n")


def test_user_error_messages_are_one_line():
    assert user_error_message(FileNotFoundError(2, "No such file or directory", "x.jpg")) == \
        "x.jpg: no such file or directory"
    assert user_error_message(ValueError("two\nlines")) == "two lines"
    assert user_error_message(RuntimeError("bug")) is None
    assert user_error_message(KeyError("plain_key")) is None


def test_library_hints_become_flags():
    from lrface.cli.common import as_cli_message

    msg = ("no face found in a.jpg; pass align=False for pre-aligned crops, or on_no_face='nan' to get a NaN row "
           "instead")
    assert as_cli_message(msg) == "no face found in a.jpg; pass --no-align for pre-aligned crops"
    assert "--trust" in as_cli_message("convert it, or pass trust=True if you know where it comes from")
