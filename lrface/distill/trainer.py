"""``lrface-train distill``: the training loop, with exact resume and data-parallel support.

A run folder (``runs/<name>`` by default) receives, as the public contract says:
``config.yaml`` (resolved config + commit), ``metrics.csv`` (one row per logging step: every
loss term, lr, samples/s; validation rows at each epoch end), ``last.pt`` (resumable),
``overlap.json`` (what the identity-overlap guard excluded), ``val_indices.npy`` (the
held-out validation faces, as face-pack indices), and the product
``student.pt`` (+ ``assistant.pt``) with its ``MANIFEST.yaml`` entry beside it.

Determinism: every random choice is a function of ``(seed, epoch, sample index)`` or
``(seed, epoch, step)``: the epoch's sample order, each sample's view (flip or cached jittered view),
augmentation and degradation preset,
the degradation's own draws (:func:`lrface.face.degrade.degrade` is seeded per sample), and
torch's generator, reseeded at every step for dropout and memory-bank sampling. A run killed
at any point and started again with the same command resumes from ``last.pt`` and ends with
the same weights as a run that was never interrupted (tested).
"""
from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from lrface.data.packed import PackedFaces, RootSpec, pack_folders
from lrface.distill.cache import TeacherCache
from lrface.distill.config import DistillConfig
from lrface.distill.overlap import OverlapReport, centroids, find_overlap, unit_rows
from lrface.distill.views import FIRST_JITTERED, MIRROR, jitter, render_views
from lrface.errors import LrfaceError
from lrface.face.degrade import degrade
from lrface.models.base import FaceModel, create_model
from lrface.models.weights import load_model, sha256_file

log = logging.getLogger(__name__)


class TrainingDiverged(LrfaceError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


# ----------------------------------------------------------------------------- set-up


def cache_dir(cfg: DistillConfig) -> Path:
    from lrface.settings import cache_dir as default_cache

    return Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache()


def build_data(cfg: DistillConfig, progress: bool = True) -> PackedFaces:
    """The training faces: synthetic identities or packed identity folders (``progress``: a
    bar while a new pack is decoded)."""
    if cfg.data.synthetic is not None and cfg.data.roots:
        raise ValueError("data: give either roots or synthetic, not both")
    if cfg.data.synthetic is not None:
        from lrface.data.synthetic import SyntheticFaces

        sy = cfg.data.synthetic
        faces, labels = SyntheticFaces(num_identities=sy.identities, images_per_identity=sy.images_per_identity,
                                       seed=sy.seed).arrays()
        return PackedFaces.from_arrays(faces, labels, [f"synthetic/{i:04d}" for i in range(sy.identities)])
    if not cfg.data.roots:
        raise ValueError("data: no training data (set data.roots or data.synthetic)")
    return pack_folders([RootSpec(r.path, r.name, r.labelled) for r in cfg.data.roots], cache_dir(cfg),
                        progress=progress)


def load_teacher(cfg: DistillConfig, device: str) -> Tuple[FaceModel, str]:
    """The frozen teacher and its sha256 (a random-init teacher only for smoke runs)."""
    spec = cfg.teacher
    if spec.weights:
        t = load_model(spec.weights, device=device)
        entry = getattr(t, "weights", None)
        sha = (entry.sha256 or sha256_file(entry.path)) if entry is not None else "unknown"
    else:
        torch.manual_seed(cfg.seed)
        t = create_model(spec.arch, **spec.kwargs).to(device)
        sha = f"random-{spec.arch}-seed{cfg.seed}"
        log.warning("teacher %s has no weights (teacher.weights unset): random init, for smoke tests only", spec.arch)
    for p in t.parameters():
        p.requires_grad_(False)
    return t.eval(), sha


def overlap_guard(cfg: DistillConfig, pack: PackedFaces, cache: Optional[TeacherCache], teacher: Optional[FaceModel],
                  teacher_sha: str,
                  out: Optional[Path]) -> Tuple[PackedFaces, Optional[OverlapReport]]:
    """Drop training identities that the evaluation set tests (see :mod:`lrface.distill.overlap`)."""
    ex = cfg.data.exclude
    if ex.dataset in ("none", "", None):
        log.warning("identity-overlap guard disabled (data.exclude.dataset: none)")
        return pack, None
    if ex.dataset != "lfw":
        raise ValueError(f"data.exclude.dataset: only 'lfw' or 'none' are supported, got {ex.dataset!r}")
    if ex.reuse:
        return _reuse_overlap(ex.reuse, pack, out)
    from lrface.eval.protocols.base import resolve_root
    from lrface.eval.protocols.lfw import image_dir

    root = image_dir(resolve_root(ex.root, "lfw"))
    lab = pack.labels
    if ex.model:  # a fixed judge, so runs with different teachers drop the same identities
        teacher = load_model(ex.model).eval()
        entry = teacher.weights
        teacher_sha = entry.sha256 or sha256_file(entry.path)
        cache = TeacherCache.build(teacher, teacher_sha, pack, cache_dir(cfg))
    if cache is None or teacher is None:  # no teacher (identity training): names only
        eval_names = sorted(p.name for p in root.iterdir() if p.is_dir())
        t_ids = np.unique(lab[lab >= 0])
        t_c, e_c, e_ids = np.zeros((len(t_ids), 1)), np.zeros((0, 1)), np.zeros(0, np.int64)
        eval_identities = eval_names
        log.warning("no teacher: the overlap guard matches names only (anonymous identities are not checked)")
    else:
        eval_pack = pack_folders([RootSpec(str(root), name="lfw")], cache_dir(cfg))
        eval_cache = TeacherCache.build(teacher, teacher_sha, eval_pack, cache_dir(cfg))
        e_emb, t_emb = np.asarray(eval_cache.emb[:, :2]), np.asarray(cache.emb[:, :2])  # face + mirror
        mu = np.concatenate([unit_rows(t_emb), unit_rows(e_emb)]).mean(0) if ex.center else None
        e_ids, e_c = centroids(e_emb, eval_pack.labels, center=mu)
        t_ids, t_c = centroids(t_emb, lab, center=mu)
        eval_identities = [eval_pack.identities[i] for i in e_ids]
    names = [pack.identities[i] for i in t_ids]
    excluded, report = find_overlap(names, t_c, eval_identities, e_c, ex.centroid_threshold,
                                    by_name=ex.by_name, dataset=ex.dataset)
    bad = t_ids[excluded]
    drop = np.isin(lab[pack.indices], bad)
    report.excluded_faces = int(drop.sum())
    import json

    if out is not None:
        (out / "overlap.json").write_text(json.dumps(report.as_dict(), indent=2))
    log.info(report.summary())
    return pack.subset(~drop), report


def _reuse_overlap(path: str, pack: PackedFaces, out: Optional[Path]) -> Tuple[PackedFaces, OverlapReport]:
    """Drop exactly the identities an earlier run's guard dropped (its ``overlap.json``), so
    runs built on it (students of an adapted model) hold out the same identities and faces."""
    import json

    src = Path(path)
    if not src.is_file():
        raise FileNotFoundError(2, "data.exclude.reuse: no such overlap.json (train that run first)", str(src))
    d = json.loads(src.read_text())
    names = set(d.get("by_name") or []) | {r["identity"] for r in d.get("by_centroid") or []}
    bad = np.array([i for i, n in enumerate(pack.identities) if n in names], np.int64)
    drop = np.isin(pack.labels[pack.indices], bad)
    report = OverlapReport(dataset=d["dataset"], threshold=float(d["threshold"]), train_identities=int(d["train_identities"]),
                           by_name=list(d.get("by_name") or []), by_centroid=list(d.get("by_centroid") or []),
                           excluded_faces=int(drop.sum()), max_cosine_kept=float(d.get("max_cosine_kept", float("nan"))))
    if out is not None:
        (out / "overlap.json").write_text(json.dumps({**report.as_dict(), "reused_from": str(src)}, indent=2))
    log.info("%s (reused from %s)", report.summary(), src)
    return pack.subset(~drop), report


# ----------------------------------------------------------------------------- batches


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in key])


def epoch_plan(cfg: DistillConfig, train: PackedFaces, epoch: int, n_pack: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sample order as pack indices, cached view per pack index, preset id per pack index).

    Views (:mod:`lrface.distill.views`): 0 the face, 1 its mirror (``data.flip``), 2.. the
    consistent jittered views of ``cfg.views``; drawn uniformly among those in use.
    """
    order = train.indices[_rng(cfg.seed, epoch, 0).permutation(len(train))]
    if cfg.views.count < 0:
        raise ValueError(f"views.count must be >= 0, got {cfg.views.count}")
    if cfg.views.count == 0:  # the draw of runs made before views existed, unchanged
        flips = (_rng(cfg.seed, epoch, 1).random(n_pack) < 0.5) if cfg.data.flip else np.zeros(n_pack, bool)
        views = flips.astype(np.int64)
    else:
        jittered = np.arange(FIRST_JITTERED, FIRST_JITTERED + cfg.views.count)
        choices = np.r_[0, MIRROR, jittered] if cfg.data.flip else np.r_[0, jittered]
        views = choices[_rng(cfg.seed, epoch, 1).integers(0, len(choices), n_pack)]
    presets = cfg.degrade.presets
    p = np.asarray(cfg.degrade.probs if cfg.degrade.probs else [1.0] * len(presets), float)
    if len(p) != len(presets) or (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"degrade.probs must be {len(presets)} non-negative weights, got {cfg.degrade.probs}")
    preset_id = _rng(cfg.seed, epoch, 2).choice(len(presets), size=n_pack, p=p / p.sum())
    return order, views, preset_id


def augment(cfg: DistillConfig, hr: np.ndarray, idx: np.ndarray, epoch: int) -> np.ndarray:
    """``cfg.augment`` applied to HR faces ``(N, H, W, 3) uint8``; a draw per (seed, epoch, index)."""
    a = cfg.augment
    if not a.active():
        return hr
    out = np.empty_like(hr)
    for k, i in enumerate(idx):
        # 6 uniform draws per sample, in a fixed order, so each knob is reproducible on its own
        out[k] = jitter(hr[k], a, _rng(cfg.seed, epoch, 3, int(i)).random(6) * 2 - 1)
    return out


def sample_sizes(cfg: DistillConfig, epoch: int, n_pack: int) -> np.ndarray:
    """The LR size of every pack face in ``epoch`` (``cfg.res_mix`` drawn uniformly, seeded;
    ``cfg.res`` for all when no mix is configured)."""
    if not cfg.res_mix:
        return np.full(n_pack, int(cfg.res), np.int64)
    sizes = np.asarray(cfg.res_mix, np.int64)
    return sizes[_rng(cfg.seed, epoch, 4).integers(0, len(sizes), n_pack)]


def make_batch(cfg: DistillConfig, pack: PackedFaces, idx: np.ndarray, views: np.ndarray, preset_id: np.ndarray,
               epoch: int, digests: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Any]:
    """HR faces (in their drawn cached view, then ``cfg.augment``) and their LR versions at ``cfg.res``.

    The LR versions use a degradation preset drawn per sample. The teacher's targets are the
    cached embeddings of the same views without ``cfg.augment``. ``digests`` (per pack face,
    :func:`lrface.distill.cache.face_digests`) are needed when ``cfg.views.count`` > 0.
    With ``cfg.res_mix`` each sample gets its own size (:func:`sample_sizes`) and the LR
    faces come back as a list of ``(s, s, 3)`` arrays in batch order, which
    :func:`lrface.models.inputs.model_input` views as one batch.
    """
    idx = np.sort(idx)  # sorted reads from the memmap; the order inside a batch does not matter
    hr, _ = pack.batch(idx)
    v = views[idx]
    if v.any():  # mirrored or jittered views
        hr = render_views(cfg.views, hr, digests[idx] if digests is not None else None, v)
    hr = augment(cfg, np.ascontiguousarray(hr), idx, epoch)
    if cfg.res_mix:
        sizes = sample_sizes(cfg, epoch, len(pack.images))[idx]
        out: List[np.ndarray] = [hr[0]] * len(idx)
        for k, name in enumerate(cfg.degrade.presets):
            for r in np.unique(sizes):
                g = np.flatnonzero((preset_id[idx] == k) & (sizes == r))
                if len(g):
                    lr_g = degrade(hr[g], int(r), name, seed=cfg.seed * 1_000_003 + epoch, indices=idx[g])
                    for j, face in zip(g, lr_g):
                        out[j] = face
        return hr, out
    if cfg.res >= hr.shape[1]:  # an HR model (lrface-train teacher): no LR version
        return hr, hr
    lr = np.empty((len(idx), cfg.res, cfg.res, 3), np.uint8)
    for k, name in enumerate(cfg.degrade.presets):
        g = preset_id[idx] == k
        if g.any():
            lr[g] = degrade(hr[g], cfg.res, name, seed=cfg.seed * 1_000_003 + epoch, indices=idx[g])
    return hr, lr


# ----------------------------------------------------------------------------- schedule


def lr_at(cfg: DistillConfig, step: int, total: int, steps_per_epoch: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr``."""
    o = cfg.optim
    warm = int(round(o.warmup_epochs * steps_per_epoch))
    if step < warm:
        return o.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


def make_optimizer(cfg: DistillConfig, params: List[nn.Parameter]) -> torch.optim.Optimizer:
    o = cfg.optim
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]  # BN, PReLU, biases: no weight decay
    groups = [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if o.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.momentum > 0)
    if o.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=o.lr)
    raise ValueError(f"optim.optimizer must be 'sgd' or 'adamw', got {o.optimizer!r}")


# ----------------------------------------------------------------------------- checkpoints


def save_atomic(obj: Dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class MetricsLog:
    """``metrics.csv``: one row per logging step; the header grows as new terms appear."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: List[Dict[str, Any]] = []
        if path.is_file():
            with path.open() as f:
                self.rows = list(csv.DictReader(f))

    def truncate(self, step: int) -> None:
        """Drop rows logged after ``step`` (they are recomputed after a resume)."""
        self.rows = [r for r in self.rows if int(float(r["step"])) <= step]
        self._write()

    def add(self, row: Dict[str, Any]) -> None:
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        keys: List[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        os.replace(tmp, self.path)
