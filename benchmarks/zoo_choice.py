"""Which shipped model should embed a face of a given size? Decided on LFW View 1, never View 2.

For each face size, LFW View 1 (``pairsDevTest.txt``, 1,000 pairs; a development split that
recipes may be selected on) is scored ``lr-lr`` with faces degraded to that size and embedded
(a) by the student the size ladder picks and (b) by the HR model ``lrface-hr`` on the faces
upsampled back to 112 px. ``lrface.models.zoo.HR_MIN_FACE`` is set from this table: the
smallest size from which the HR model is at least as good.

Usage::

    python benchmarks/zoo_choice.py --sizes 16 20 24 32 40 48 --out benchmarks/results/zoo_choice_view1.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 20, 24, 32, 40, 48])
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    from lrface.bench import run
    from lrface.models.zoo import HR_RES, choose_res, shipped_by_res
    from lrface.provenance import provenance

    cache = Path(os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    table = shipped_by_res()
    students = [r for r in table if r != HR_RES]
    rows: List[Dict[str, Any]] = []
    for s in args.sizes:
        student = table[choose_res(s, students, have_hr=False)].name
        out: Dict[str, Any] = {"face_px": s, "student": student}
        for key, model in (("student", student), ("hr_model", table[HR_RES].name)):
            r = run("lfw", [s], [model], flip=True, cache_dir=cache, protocol_kwargs={"pairs": "pairsDevTest.txt"})[0]
            out[f"{key}_accuracy"] = r["accuracy"]
            out[f"{key}_auc"] = r["auc"]
        rows.append({**out, **provenance()})
        print(f"{s} px: {student} {100 * out['student_accuracy']:.2f}% (AUC {out['student_auc']:.4f}), "
              f"{table[HR_RES].name} {100 * out['hr_model_accuracy']:.2f}% (AUC {out['hr_model_auc']:.4f})", flush=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
