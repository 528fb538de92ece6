"""Which shipped model should embed a face of a given size? Decided on LFW View 1, never View 2.

For each face size, LFW View 1 (``pairsDevTest.txt``, 1,000 pairs; a development split that
recipes may be selected on) is scored ``lr-lr`` with faces degraded to that size and embedded
(a) by the LR model ``embed()`` would use without the HR model (``lrface-lr``, which takes a
face at its own size up to the largest it was trained on, 32 px: a 40 px face is shrunk to
32) and (b) by the HR model ``lrface-hr`` on the face as it is. ``lrface.models.zoo.HR_MIN_FACE``
is set from this table: the smallest size from which the HR model is at least as good.

Usage::

    python benchmarks/zoo_choice.py --sizes 24 32 40 48 64 --out benchmarks/results/zoo_choice_view1.json
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
    p.add_argument("--sizes", type=int, nargs="+", default=[24, 32, 40, 48, 64])
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    from lrface.bench import run
    from lrface.models.zoo import HR_RES, choose_res, lr_size, shipped_by_res
    from lrface.provenance import provenance

    cache = Path(os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    table = shipped_by_res()
    students = [r for r in table if r != HR_RES]
    rows: List[Dict[str, Any]] = []
    for s in args.sizes:
        ladder = choose_res(s, students, have_hr=False)
        entry = table[ladder]
        lr_res = lr_size(entry, s, ladder)
        student = entry.name
        out: Dict[str, Any] = {"face_px": s, "student": student, "student_res": lr_res}
        for key, model, res in (("student", student, lr_res), ("hr_model", table[HR_RES].name, s)):
            r = run("lfw", [res], [model], flip=True, cache_dir=cache, protocol_kwargs={"pairs": "pairsDevTest.txt"})[0]
            out[f"{key}_accuracy"] = r["accuracy"]
            out[f"{key}_auc"] = r["auc"]
        rows.append({**out, **provenance()})
        print(f"{s} px: {student} {100 * out['student_accuracy']:.2f}% (AUC {out['student_auc']:.4f}), "
              f"{table[HR_RES].name} {100 * out['hr_model_accuracy']:.2f}% (AUC {out['hr_model_auc']:.4f})", flush=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
