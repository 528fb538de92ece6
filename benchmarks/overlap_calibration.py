"""Where to set the identity-overlap guard's centroid threshold for a teacher.

The guard (``lrface.distill.overlap``) drops a training identity whose teacher-embedding
centroid is too close to some LFW identity's centroid. How close "the same person" is depends
on the teacher. This measures, in the teacher's (optionally mean-centred) space:

* **same person**: for every LFW identity with 2+ images, the cosine between the centroids of
  two halves of its images (one or two images each, like a CelebA identity's few faces);
* **training identities**: for every training identity, its highest centroid cosine with any
  LFW identity (what the guard thresholds);

and, per candidate threshold, the share of same-person pairs it would catch and the number of
training identities (and faces) it would drop. Writes ``benchmarks/results/overlap_<name>.json``.

Usage::

    python benchmarks/overlap_calibration.py --teacher lrface-hr --center --name dlib
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="lrface-hr")
    p.add_argument("--roots", nargs="+", default=["celeba_1k_112", "celeba_5k_64"], help="training folders in the data root")
    p.add_argument("--center", action="store_true", help="mean-centre the embeddings first")
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.55, 0.6, 0.65, 0.7, 0.75, 0.8])
    p.add_argument("--name", required=True)
    args = p.parse_args(argv)

    from lrface.data.packed import RootSpec, pack_folders
    from lrface.distill.cache import TeacherCache
    from lrface.distill.overlap import centroids, unit_rows
    from lrface.models.weights import load_model
    from lrface.settings import data_root
    from lrface.provenance import provenance

    cache = Path(os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")
    root = data_root()
    teacher = load_model(args.teacher)
    sha = teacher.weights.sha256
    train = pack_folders([RootSpec(str(root / r), r) for r in args.roots], cache, progress=False)
    lfw = pack_folders([RootSpec(str(root / "lfw" / "images"), "lfw")], cache, progress=False)
    t_emb = np.asarray(TeacherCache.build(teacher, sha, train, cache, progress=False).emb[:, :2])
    e_emb = np.asarray(TeacherCache.build(teacher, sha, lfw, cache, progress=False).emb[:, :2])
    mu = np.concatenate([unit_rows(t_emb), unit_rows(e_emb)]).mean(0) if args.center else None
    t_ids, t_c = centroids(t_emb, train.labels, center=mu)
    _, e_c = centroids(e_emb, lfw.labels, center=mu)
    best = np.concatenate([(t_c[s:s + 2048] @ e_c.T).max(1) for s in range(0, len(t_c), 2048)])
    faces_per_id = np.bincount(train.labels[train.labels >= 0], minlength=int(t_ids.max()) + 1)[t_ids]
    lab = lfw.labels
    same = []
    for k in np.unique(lab[lab >= 0]):
        ix = np.flatnonzero(lab == k)
        if len(ix) >= 2:
            _, c = centroids(e_emb[ix], (np.arange(len(ix)) >= len(ix) // 2).astype(np.int64), center=mu)
            same.append(float(c[0] @ c[1]))
    same = np.asarray(same)
    rows = [{"threshold": t, "same_person_caught": round(float((same >= t).mean()), 4),
             "training_identities_dropped": int((best >= t).sum()),
             "training_faces_dropped": int(faces_per_id[best >= t].sum())} for t in args.thresholds]
    out = {"teacher": args.teacher, "teacher_sha256": sha, "center": args.center, "roots": args.roots,
           "training_identities": int(len(t_ids)), "training_faces": int(faces_per_id.sum()),
           "lfw_same_person_pairs": int(len(same)),
           "same_person_percentiles": {str(q): round(float(np.percentile(same, q)), 4) for q in (1, 5, 10, 25, 50)},
           "max_cosine_percentiles": {str(q): round(float(np.percentile(best, q)), 4) for q in (50, 90, 99)},
           "thresholds": rows, **provenance()}
    path = ROOT / "benchmarks" / "results" / f"overlap_{args.name}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    for r in rows:
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
