"""Validation on held-out *training* identities (never LFW): what recipes are chosen on.

A seeded set of verification pairs is drawn from the validation identities (genuine: two
faces of one identity; impostor: faces of two identities, as many as genuine). The student
embeds the faces degraded to ``res`` with the deterministic ``area`` preset through the one
LR path; the teacher's flip-sum HR embeddings come from the cache. Reported: ``lr-lr`` and
``hr-lr`` (teacher on the HR side) AUC and best-threshold accuracy, and the mean cosine
between student and teacher embeddings of the same face.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from lrface.data.packed import PackedFaces
from lrface.distill.cache import TeacherCache
from lrface.eval.metrics import best_threshold, roc_auc
from lrface.face.degrade import degrade
from lrface.models.base import FaceModel
from lrface.models.inputs import run_batches


def val_pairs(view: PackedFaces, n_pairs: int, seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(a, b, same)`` positions into ``view`` (half genuine, half impostor, seeded)."""
    rng = np.random.default_rng(seed)
    lab = view.identity_of()
    by_id: Dict[int, np.ndarray] = {int(k): np.flatnonzero(lab == k) for k in np.unique(lab[lab >= 0])}
    multi = [k for k, v in by_id.items() if len(v) >= 2]
    if len(multi) < 2:
        raise ValueError(f"validation needs at least 2 identities with 2+ faces, got {len(multi)}")
    half = max(1, n_pairs // 2)
    a, b, same = [], [], []
    for _ in range(half):
        k = multi[rng.integers(len(multi))]
        i, j = rng.choice(by_id[k], 2, replace=False)
        a.append(i), b.append(j), same.append(True)
    ids = list(by_id)
    for _ in range(half):
        k1, k2 = rng.choice(len(ids), 2, replace=False)
        a.append(rng.choice(by_id[ids[k1]])), b.append(rng.choice(by_id[ids[k2]])), same.append(False)
    return np.array(a), np.array(b), np.array(same)


def _scores(ea: np.ndarray, eb: np.ndarray) -> np.ndarray:
    ea = ea / np.maximum(np.linalg.norm(ea, axis=1, keepdims=True), 1e-12)
    eb = eb / np.maximum(np.linalg.norm(eb, axis=1, keepdims=True), 1e-12)
    return np.sum(ea * eb, axis=1)


@torch.no_grad()
def validate(student: FaceModel, view: PackedFaces, cache: Optional[TeacherCache], res: Union[int, Sequence[int]],
             pairs: Tuple[np.ndarray, ...], batch_size: int = 256) -> Dict[str, float]:
    """Validation metrics (fractions): ``val_auc``, ``val_acc`` and, with a teacher cache,
    ``val_hr_auc``, ``val_hr_acc`` (teacher on the HR side), ``val_cos`` (student-teacher cosine).

    With several sizes in ``res`` each metric is the mean over the sizes, and every size's own
    figures are kept as ``<metric>_<size>`` (``val_auc_16``)."""
    sizes = [int(r) for r in res] if isinstance(res, (list, tuple)) else [int(res)]
    if len(sizes) == 1:
        return _validate_one(student, view, cache, sizes[0], pairs, batch_size)
    per = {r: _validate_one(student, view, cache, r, pairs, batch_size) for r in sizes}
    out = {k: float(np.mean([per[r][k] for r in sizes])) for k in per[sizes[0]]}
    for r in sizes:
        out.update({f"{k}_{r}": v for k, v in per[r].items()})
    return out


def _validate_one(student: FaceModel, view: PackedFaces, cache: Optional[TeacherCache], res: int,
                  pairs: Tuple[np.ndarray, ...], batch_size: int) -> Dict[str, float]:
    a, b, same = pairs
    used = np.unique(np.r_[a, b])
    pack_idx = view.indices[used]
    hr, _ = view.batch(pack_idx)
    lr = degrade(hr, res, "area") if res < hr.shape[1] else hr
    was = student.training
    student.eval()
    e = run_batches(student, lr, batch_size) + run_batches(student, np.ascontiguousarray(lr[:, :, ::-1]), batch_size)
    student.train(was)
    pos = {int(u): k for k, u in enumerate(used)}
    ia, ib = np.array([pos[int(x)] for x in a]), np.array([pos[int(x)] for x in b])
    lab = same.astype(int)
    s_lr = _scores(e[ia], e[ib])
    out = {"val_auc": roc_auc(s_lr, lab), "val_acc": best_threshold(s_lr, lab)[1]}
    if cache is not None:
        t = np.asarray(cache.emb[pack_idx, :2]).sum(axis=1)  # teacher flip-sum at HR
        s_hr = _scores(t[ia], e[ib])
        cos = F.cosine_similarity(torch.from_numpy(e), torch.from_numpy(t.astype(np.float32))).mean().item()
        out.update(val_hr_auc=roc_auc(s_hr, lab), val_hr_acc=best_threshold(s_hr, lab)[1], val_cos=cos)
    return out
