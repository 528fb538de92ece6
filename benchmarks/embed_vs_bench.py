"""Do ``lrface.embed()`` and ``lrface-bench`` agree? Both on the same LFW pairs at one res.

Embeds every image of an LFW pair list twice, once through the public API
(``lrface.embed(faces, model, res=R, align=False)``) and once through the benchmark runner's
embedding function with the LFW protocol, then prints the AUC and 10-fold accuracy of each
and the largest embedding difference. Since both go through
:func:`lrface.models.inputs.model_input`, the difference must be exactly 0.

Usage::

    python benchmarks/embed_vs_bench.py --model weights-local/y1.pt --res 16 \
        --pairs pairsDevTest.txt --out benchmarks/results/embed_vs_bench_view1_16.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="an HR model (name or .pt with a manifest entry)")
    p.add_argument("--res", type=int, default=16)
    p.add_argument("--pairs", default="pairsDevTest.txt", help="LFW pair list (default: View 1 test)")
    p.add_argument("--root", help="LFW folder (default: $LRFACE_DATA/lfw or ../shared/data/lfw)")
    p.add_argument("--flip", action="store_true")
    p.add_argument("--out", help="JSON result file")
    args = p.parse_args(argv)

    import lrface
    from lrface.bench import EmbedFn, EmbeddingCache, load_bench_model
    from lrface.eval.metrics import kfold_verification, roc_auc
    from lrface.eval.protocols.lfw import LFWVerification
    from lrface.provenance import provenance

    proto = LFWVerification(args.root, pairs=args.pairs, flip=args.flip)
    pairs, _ = proto.check()
    faces = proto.faces()
    index = {k: i for i, k in enumerate(pairs.images())}
    ia = np.array([index[k] for k in pairs.first])
    ib = np.array([index[k] for k in pairs.second])

    api = lrface.embed(faces, model=args.model, res=args.res, align=False, flip=args.flip)
    scores = np.sum(api[ia].astype(np.float64) * api[ib], axis=1)
    kf = kfold_verification(scores, pairs.labels, folds=pairs.folds)
    via_api = {"auc": roc_auc(scores, pairs.labels), "accuracy": kf["accuracy"]}

    fn = EmbedFn(load_bench_model(f"teacher:{args.model}"), EmbeddingCache(None), recipe=proto.degrade)
    row = proto.evaluate(fn, res=args.res, mode="lr-lr")
    via_bench = {"auc": row["auc"], "accuracy": row["accuracy"]}

    from lrface.eval.protocols.base import embed_faces

    bench_emb = embed_faces(fn, faces, args.res, preset=proto.degrade, keys=np.arange(len(faces)),
                            flip=args.flip)
    diff = float(np.abs(bench_emb - api).max())
    result = {"dataset": "lfw", "pairs": Path(args.pairs).name, "res": args.res, "mode": "lr-lr",
              "flip": args.flip, "model": args.model, "images": int(len(faces)),
              "auc_embed": via_api["auc"], "auc_bench": via_bench["auc"],
              "accuracy_embed": via_api["accuracy"], "accuracy_bench": via_bench["accuracy"],
              "max_abs_embedding_difference": diff, **provenance()}
    print(f"{result['pairs']} res={args.res} flip={args.flip} images={len(faces)}")
    print(f"  lrface.embed():  AUC {via_api['auc']:.4f}  accuracy {via_api['accuracy']:.4f}")
    print(f"  lrface-bench:    AUC {via_bench['auc']:.4f}  accuracy {via_bench['accuracy']:.4f}")
    print(f"  max |embedding difference| = {diff:.3g}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0 if diff == 0.0 else 1


if __name__ == "__main__":
    sys.exit(main())
