"""A plain (non-editable) ``pip install .`` in a fresh virtual environment, then ``lrface.embed``
with the shipped models from another folder: the package, not the checkout, must carry them.

Steps (timed): ``python -m venv V``; ``V/bin/pip install -c constraints-cpu.txt .``;
``V/bin/pip install --no-deps facenet-pytorch==2.6.0`` (MTCNN weights); then, from an empty
temporary folder, a script that embeds a synthetic face at 16 px with ``align=False`` and the
grace_hopper photo (when matplotlib is importable) with all defaults, printing the models used
and where lrface was imported from.

Usage::

    python benchmarks/install_check.py --out benchmarks/results/install_check.json
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent

PROBE = r'''
import json, numpy as np, lrface
from lrface.data.synthetic import SyntheticFaces
from lrface.face.degrade import degrade
face = SyntheticFaces(num_identities=1, images_per_identity=1).arrays()[0][0]
e, info = lrface.embed(degrade(face, 16, "area"), align=False, return_info=True)
e2, info2 = lrface.embed(face, res=16, align=False, return_info=True)
print(json.dumps({"lrface_file": lrface.__file__, "shape": list(e.shape), "norm": float(np.linalg.norm(e[0])),
                  "model": info[0].model, "model_res16": info2[0].model,
                  "shipped": lrface.list_models(pretrained=True)}))
'''


def _run(cmd: Sequence[str], cwd: Optional[Path] = None) -> Dict[str, Any]:
    t0 = time.perf_counter()
    p = subprocess.run(list(cmd), capture_output=True, text=True, cwd=str(cwd) if cwd else None)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return {"seconds": round(time.perf_counter() - t0, 1), "stdout": p.stdout}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    from lrface.provenance import provenance

    work = Path(tempfile.mkdtemp(prefix="lrface-install-"))
    venv = work / "venv"
    steps: Dict[str, Any] = {}
    steps["venv"] = _run([sys.executable, "-m", "venv", str(venv)])
    pip = str(venv / "bin" / "pip")
    steps["pip_install"] = _run([pip, "install", "-q", "-c", str(ROOT / "constraints-cpu.txt"), str(ROOT)])
    steps["mtcnn_weights"] = _run([pip, "install", "-q", "--no-deps", "facenet-pytorch==2.6.0"])
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    steps["embed"] = _run([str(venv / "bin" / "python"), "-c", PROBE], cwd=elsewhere)
    result = json.loads(steps["embed"]["stdout"].strip().splitlines()[-1])
    ok = (str(venv) in result["lrface_file"] and abs(result["norm"] - 1) < 1e-5 and result["model"] == "lrface-s16"
          and result["model_res16"] == "lrface-s16")
    row = {"ok": ok, **result, "seconds": {k: v["seconds"] for k, v in steps.items()},
           "note": "non-editable install into a fresh venv; embed() run from an unrelated folder", **provenance()}
    Path(args.out).write_text(json.dumps(row, indent=2) + "\n")
    print(json.dumps(row, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
