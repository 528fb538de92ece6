"""Time the README's two commands on a fresh clone in a clean virtual environment.

Clones the repository's committed ``HEAD`` into a new folder beside this checkout (so that
``../shared`` is found as in CI), then runs the README's main-job command and its test command
there, each from scratch (the clone has no ``.venv``; the test command reuses nothing from
the first: it gets its own clone), and records the wall time and exit code of each.

Usage::

    python benchmarks/readme_commands.py --out benchmarks/results/readme_commands.json
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent


def readme_commands(readme: str) -> List[str]:
    """The two fenced bash commands under "## The two commands", in order."""
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    cmds = re.findall(r"```bash\n(.+?)\n```", section, re.S)
    if len(cmds) != 2:
        raise SystemExit(f"expected 2 commands under '## The two commands', found {len(cmds)}")
    return [c.strip() for c in cmds]


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from lrface.provenance import provenance

    cmds = readme_commands((ROOT / "README.md").read_text())
    rows: List[Dict[str, Any]] = []
    for name, cmd in zip(("main job", "tests"), cmds):
        clone = ROOT.parent / f"readme-check-{name.replace(' ', '-')}"
        shutil.rmtree(clone, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        t0 = time.perf_counter()
        proc = subprocess.run(["bash", "-c", cmd], cwd=clone, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        rows.append({"name": name, "text": cmd, "seconds": round(wall, 1), "exit_code": proc.returncode,
                     "last_lines": tail})
        print(f"{name}: exit {proc.returncode} in {wall:.0f} s; " + " | ".join(tail), flush=True)
        shutil.rmtree(clone, ignore_errors=True)
    prov = provenance()
    Path(args.out).write_text(json.dumps([{**r, **prov} for r in rows], indent=2) + "\n")
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
