"""``lrface-train distill``: the training loop, with exact resume and data-parallel support.

A run folder (``runs/<name>`` by default) receives, as the public contract says:
``config.yaml`` (resolved config + commit), ``metrics.csv`` (one row per logging step: every
loss term, lr, samples/s; validation rows at each epoch end), ``last.pt`` (resumable),
``overlap.json`` (what the identity-overlap guard excluded), ``val_indices.npy`` (the
held-out validation faces, as face-pack indices), and the product
``student.pt`` (+ ``assistant.pt``) with its ``MANIFEST.yaml`` entry beside it.

Determinism: every random choice is a function of ``(seed, epoch, sample index)`` or
``(seed, epoch, step)``: the epoch's sample order, each sample's flip, augmentation and degradation preset,
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
from lrface.distill.overlap import OverlapReport, centroids, find_overlap
from lrface.errors import LrfaceError
from lrface.face.degrade import degrade
from lrface.models.base import FaceModel, create_model
from lrface.models.weights import load_model, sha256_file

log = logging.getLogger(__name__)


class TrainingDiverged(LrfaceError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


# ----------------------------------------------------------------------------- set-up


def cache_dir(cfg: DistillConfig) -> Path:
    return Path(cfg.data.cache_dir or os.environ.get("LRFACE_CACHE") or Path.home() / ".cache" / "lrface")


def build_data(cfg: DistillConfig) -> PackedFaces:
    """The training faces: synthetic identities or packed identity folders."""
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
    return pack_folders([RootSpec(r.path, r.name, r.labelled) for r in cfg.data.roots], cache_dir(cfg))


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
    from lrface.eval.protocols.base import resolve_root
    from lrface.eval.protocols.lfw import image_dir

    root = image_dir(resolve_root(ex.root, "lfw"))
    lab = pack.labels
    if cache is None or teacher is None:  # no teacher (identity training): names only
        eval_names = sorted(p.name for p in root.iterdir() if p.is_dir())
        t_ids = np.unique(lab[lab >= 0])
        t_c, e_c, e_ids = np.zeros((len(t_ids), 1)), np.zeros((0, 1)), np.zeros(0, np.int64)
        eval_identities = eval_names
        log.warning("no teacher: the overlap guard matches names only (anonymous identities are not checked)")
    else:
        eval_pack = pack_folders([RootSpec(str(root), name="lfw")], cache_dir(cfg))
        eval_cache = TeacherCache.build(teacher, teacher_sha, eval_pack, cache_dir(cfg))
        e_ids, e_c = centroids(np.asarray(eval_cache.emb), eval_pack.labels)
        t_ids, t_c = centroids(np.asarray(cache.emb), lab)
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


# ----------------------------------------------------------------------------- batches


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) & 0xFFFFFFFF for k in key])


def epoch_plan(cfg: DistillConfig, train: PackedFaces, epoch: int, n_pack: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sample order as pack indices, flip per pack index, preset id per pack index)."""
    order = train.indices[_rng(cfg.seed, epoch, 0).permutation(len(train))]
    flips = (_rng(cfg.seed, epoch, 1).random(n_pack) < 0.5) if cfg.data.flip else np.zeros(n_pack, bool)
    presets = cfg.degrade.presets
    p = np.asarray(cfg.degrade.probs if cfg.degrade.probs else [1.0] * len(presets), float)
    if len(p) != len(presets) or (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"degrade.probs must be {len(presets)} non-negative weights, got {cfg.degrade.probs}")
    preset_id = _rng(cfg.seed, epoch, 2).choice(len(presets), size=n_pack, p=p / p.sum())
    return order, flips, preset_id


def augment(cfg: DistillConfig, hr: np.ndarray, idx: np.ndarray, epoch: int) -> np.ndarray:
    """``cfg.augment`` applied to HR faces ``(N, H, W, 3) uint8``; a draw per (seed, epoch, index)."""
    a = cfg.augment
    if not a.active():
        return hr
    import cv2  # imported here: the rest of the trainer does not need OpenCV

    out = np.empty_like(hr)
    h, w = hr.shape[1:3]
    for k, i in enumerate(idx):
        # 6 uniform draws per sample, in a fixed order, so each knob is reproducible on its own
        u = _rng(cfg.seed, epoch, 3, int(i)).random(6) * 2 - 1
        img = hr[k]
        if a.shift or a.scale or a.rotate:
            m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), a.rotate * u[0], 1.0 + a.scale * u[1])
            m[0, 2] += a.shift * w * u[2]
            m[1, 2] += a.shift * h * u[3]
            img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if a.contrast:
            c = 1.0 + a.contrast * u[4]
            b = 127.5 * a.contrast * u[5]
            img = np.clip((img.astype(np.float32) - 127.5) * c + 127.5 + b, 0, 255).astype(np.uint8)
        if a.gray and (u[5] + 1) / 2 < a.gray:
            g = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            img = np.repeat(np.clip(g + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        out[k] = img
    return out


def make_batch(cfg: DistillConfig, pack: PackedFaces, idx: np.ndarray, flips: np.ndarray, preset_id: np.ndarray,
               epoch: int) -> Tuple[np.ndarray, np.ndarray]:
    """HR faces (flipped where drawn, then ``cfg.augment``) and their LR versions at ``cfg.res``.

    The LR versions use a degradation preset drawn per sample. The teacher's targets are the
    cached embeddings of the un-augmented faces.
    """
    idx = np.sort(idx)  # sorted reads from the memmap; the order inside a batch does not matter
    hr, _ = pack.batch(idx)
    f = flips[idx]
    if f.any():
        hr[f] = hr[f][:, :, ::-1]
    hr = augment(cfg, np.ascontiguousarray(hr), idx, epoch)
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
