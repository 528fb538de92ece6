"""The distillation loop behind ``lrface-train distill`` (set-up helpers: :mod:`.trainer`)."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from lrface.config import dump_config
from lrface.data.packed import RootSpec
from lrface.distill.cache import TeacherCache
from lrface.distill.config import DistillConfig
from lrface.distill.losses import build_losses
from lrface.distill.overlap import centroids
from lrface.distill.streams import DistillStep, loss_context, needs_taps, teacher_stream
from lrface.distill.trainer import (MetricsLog, TrainingDiverged, build_data, cache_dir, epoch_plan, load_teacher,
                                    lr_at, make_batch, make_optimizer, overlap_guard, save_atomic)
from lrface.distill.validate import val_pairs, validate
from lrface.models.base import create_model
from lrface.models.inputs import inference_copy, model_input
from lrface.models.weights import sha256_file, write_manifest_entry
from lrface.provenance import provenance

log = logging.getLogger(__name__)


def _dist() -> tuple:
    """(rank, world) from torchrun's environment, initialising the process group once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def _barrier(world: int, when: bool) -> None:
    if world > 1 and when:
        import torch.distributed as dist

        dist.barrier()


def train_distill(cfg: DistillConfig, out: Path, progress: bool = True, product: str = "student") -> Path:
    """Train (or resume) the run in ``out``; returns the path of ``<product>.pt``
    (``student.pt`` for distillation, ``teacher.pt`` for ``lrface-train teacher``)."""
    rank, world = _dist()
    main = rank == 0
    device = cfg.device
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out.mkdir(parents=True, exist_ok=True)
    cfg_text = dump_config(cfg)  # what must match for a resume
    finished = _finished(out, cfg_text, product)
    if finished is not None:  # the same command again after the run ended: nothing to redo
        log.info("%s already finished (done.json); its products and provenance are kept", out)
        return finished
    if main:
        (out / "config.yaml").write_text(dump_config(cfg, {"provenance": provenance()}))

    # Caches (face pack, teacher outputs) are built by rank 0 alone; the other ranks wait, then
    # find them complete on disk.
    _barrier(world, when=not main)
    pack = build_data(cfg, progress=progress and main)
    teacher, teacher_sha, cache = None, "none", None
    if cfg.teacher is not None:
        teacher, teacher_sha = load_teacher(cfg, device)
        cache = TeacherCache.build(teacher, teacher_sha, pack, cache_dir(cfg), taps=cfg.teacher_taps or None,
                                   progress=progress and main, views=cfg.views)
    elif cfg.views.count:
        raise ValueError("views.count > 0 needs a teacher (the views are the teacher's targets)")
    data, report = overlap_guard(cfg, pack, cache, teacher, teacher_sha, out if main else None)
    _barrier(world, when=main)
    train_only = [RootSpec(r.path, r.name).prefix for r in cfg.data.roots if not r.val]
    train, val = data.split_identities(cfg.data.val_fraction, seed=cfg.seed, train_only=train_only)
    train = train.sample_identities(cfg.data.train_fraction, seed=cfg.seed + 1)
    if len(train) < cfg.optim.batch_size:
        raise ValueError(f"{len(train)} training faces is fewer than one batch of {cfg.optim.batch_size}")
    pairs = val_pairs(val, cfg.data.val_pairs, seed=cfg.seed) if len(val) else None
    if main:  # which faces were held out: threshold calibration and quality references use them
        np.save(out / "val_indices.npy", val.indices)

    torch.manual_seed(cfg.seed)
    # channels-last: on CPU the small convs and BatchNorms of the compact nets train about 6x
    # faster in NHWC than in NCHW (benchmarks/train_speed.py).
    student = _init_student(cfg, device).to(memory_format=torch.channels_last)
    assistant = (create_model(cfg.assistant.arch, **cfg.assistant.kwargs).to(device, memory_format=torch.channels_last)
                 if cfg.assistant else None)
    lab = train.identity_of()
    if cache is not None:
        ids, cent = centroids(np.asarray(cache.emb[train.indices, :2]), lab)  # face + mirror
    else:  # identity training (lrface-train teacher): no teacher, no centroids
        ids, cent = np.unique(lab[lab >= 0]), None
    # Re-label the kept identities 0..K-1 so identity heads and centroids share one index.
    remap = np.full(max(len(pack.identities), 1), -1, np.int64)
    remap[ids] = np.arange(len(ids))
    teacher_taps = _teacher_tap_channels(teacher, cfg) if teacher is not None else {}
    # the teacher's mean raw embedding over the training faces (face view), for centred losses
    t_mean = None
    if cache is not None:
        t_raw = np.asarray(cache.emb[np.sort(train.indices), 0], np.float64)
        t_mean = torch.from_numpy(t_raw.mean(0)).float()
        if getattr(student, "anchored", False):  # (a resumed run restores the same values)
            student.set_anchor(t_mean, float(np.linalg.norm(t_raw - t_raw.mean(0), axis=1).mean()))
    ctx = loss_context(student, teacher.embedding_size if teacher is not None else None, teacher_taps, assistant,
                       len(pack.images), len(ids), torch.from_numpy(cent).float() if cent is not None else None,
                       t_mean)
    s_losses = build_losses(cfg.losses, ctx)
    a_losses = build_losses(cfg.assistant_losses, ctx.for_assistant()) if assistant is not None else None
    taps = needs_taps(cfg.losses) or needs_taps(cfg.assistant_losses)
    step_mod = DistillStep(student, s_losses, assistant, a_losses, taps=taps).to(device)
    params = [p for p in step_mod.parameters() if p.requires_grad]
    opt = make_optimizer(cfg, params)
    runner: torch.nn.Module = step_mod
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        runner = DDP(step_mod, find_unused_parameters=True)

    if cfg.teacher_view not in ("hr", "lr"):
        raise ValueError(f"teacher_view must be 'hr' or 'lr', got {cfg.teacher_view!r}")
    if cfg.teacher_view == "lr" and (teacher is None or cfg.teacher_taps):
        raise ValueError("teacher_view: lr needs a teacher and no teacher_taps (the LR teacher gives embeddings only)")
    teacher_fast = inference_copy(teacher).to(device) if (cfg.live_teacher or cfg.teacher_view == "lr") else None
    spe = len(train) // cfg.optim.batch_size
    total_steps = spe * cfg.optim.epochs
    if cfg.max_steps is not None:  # benchmarking: stop early (the schedule still spans all epochs)
        total_steps = min(total_steps, int(cfg.max_steps))
    metrics = MetricsLog(out / "metrics.csv")
    step = 0
    ckpt = out / "last.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        if not same_config(state.get("config"), cfg_text):
            raise ValueError(f"{ckpt} belongs to a run with another config; use a new --out or delete it")
        step_mod.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        step = int(state["step"])
        metrics.truncate(step)
        if main:
            log.info("resuming %s at step %d of %d", out, step, total_steps)
    if main:
        log.info("training on %d faces (%d identities), validating on %d; %d steps of %d", len(train), len(ids),
                 len(val), total_steps, cfg.optim.batch_size)
        (out / "run.json").write_text(json.dumps({
            "train_faces": len(train), "train_identities": int(len(ids)), "val_faces": len(val),
            "val_pairs": 0 if pairs is None else int(len(pairs[0])), "steps_per_epoch": spe,
            "total_steps": total_steps, "world_size": world,
            "teacher_cache": dict(cache.info) if cache is not None else None}, indent=2))

    from tqdm import tqdm

    bar = tqdm(total=total_steps, initial=step, desc=f"distill {cfg.name}", unit="step", disable=not (progress and main))
    busy, n_win = 0.0, 0  # samples/s counts training steps only, not validation or checkpoints
    plan_epoch, plan = -1, None
    while step < total_steps:
        t_step = time.perf_counter()
        epoch, k = divmod(step, spe)
        if epoch != plan_epoch:
            plan_epoch, plan = epoch, epoch_plan(cfg, train, epoch, len(pack.images))
        order, views, preset_id = plan
        batch = order[k * cfg.optim.batch_size:(k + 1) * cfg.optim.batch_size]
        mine = np.sort(batch)[rank::world]
        hr, lr = make_batch(cfg, pack, mine, views, preset_id, epoch, digests=cache.digests if cache else None)
        idx = np.sort(mine)
        torch.manual_seed(hash((cfg.seed, epoch, k)) & 0x7FFFFFFF)
        x_lr = model_input(lr, student, channels_last=True).to(device)
        x_hr = model_input(hr, assistant, channels_last=True).to(device) if assistant is not None else None
        if cache is None:  # no teacher: identity losses only
            t_emb, t_taps = torch.zeros(len(idx), 0, device=device), {}
        elif cfg.teacher_view == "lr":  # the LR-adapted teacher on the very views the student sees
            with torch.inference_mode():
                t_emb = teacher_fast(model_input(lr, teacher_fast, channels_last=True).to(device)).float().clone()
            t_taps = {}
        elif cfg.live_teacher:  # the cost the cache saves: the teacher on every batch
            t_emb, t_taps = live_teacher(teacher_fast, hr, cfg.teacher_taps, device)
        else:
            t_emb = cache.embeddings(idx, views[idx]).to(device)
            t_taps = {n: cache.tap(n, idx, views[idx]).to(device) for n in (cfg.teacher_taps or {})}
        raw = pack.labels[idx]
        labels = torch.from_numpy(np.where(raw >= 0, remap[np.maximum(raw, 0)], -1)).to(device)
        index = torch.from_numpy(idx).to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, step, spe * cfg.optim.epochs, spe)
        step_mod.train()
        with _autocast(cfg, device):
            total, terms = runner(x_lr, x_hr, teacher_stream(t_emb, t_taps), labels, index)
        if not torch.isfinite(total):
            raise TrainingDiverged(
                f"loss is {total.item()} at step {step} (epoch {epoch}); terms: "
                + ", ".join(f"{n}={v.item():.4g}" for n, v in terms.items())
                + f". {ckpt} holds the last good state; lower optim.lr or check the data")
        opt.zero_grad(set_to_none=True)
        total.backward()
        if cfg.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        opt.step()
        step += 1
        busy += time.perf_counter() - t_step
        n_win += len(idx) * world
        bar.update(1)
        bar.set_postfix(loss=f"{total.item():.4f}")
        if main and (step % cfg.log_every == 0 or step == total_steps):
            row: Dict[str, Any] = {"step": step, "epoch": round(step / spe, 3), "lr": opt.param_groups[0]["lr"],
                                   "samples_per_s": round(n_win / max(busy, 1e-9), 1)}
            row.update({n: round(float(v), 6) for n, v in terms.items()})
            metrics.add(row)
            busy, n_win = 0.0, 0
        end_of_epoch = step % spe == 0 or step == total_steps
        if main and end_of_epoch and pairs is not None:
            v = validate(student, val, cache, cfg.validation_sizes, pairs)
            metrics.add({"step": step, "epoch": step // spe, **{n: round(x, 6) for n, x in v.items()}})
            log.info("epoch %d: %s", step // spe, ", ".join(f"{n} {x:.4f}" for n, x in v.items()))
        if main and (end_of_epoch or step % cfg.checkpoint_every == 0 or step == total_steps):
            save_atomic({"model": step_mod.state_dict(), "optim": opt.state_dict(), "step": step,
                         "config": cfg_text}, ckpt)
    bar.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    if not main:
        return out / f"{product}.pt"
    return _export(cfg, out, student, assistant, teacher_sha, report, metrics, product)


def _finished(out: Path, cfg_text: str, product: str) -> Optional[Path]:
    """The product of a run in ``out`` that already ended with this config, else ``None``.

    Rerunning a finished run must not re-export it: that would stamp the products with the
    commit and date of the rerun instead of those of the training.
    """
    done, ckpt, path = out / "done.json", out / "last.pt", out / f"{product}.pt"
    if not (done.is_file() and ckpt.is_file() and path.is_file()):
        return None
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    return path if same_config(state.get("config"), cfg_text) else None


def same_config(old: Optional[str], new: str) -> bool:
    """Does a run's recorded config describe the same run as ``new``? Equal texts do; so do
    texts that differ only by keys added to the schema since (absent from ``old``) whose new
    value is an "off" value (``null``, ``false``, empty), since the old run ran without them."""
    if old is None:
        return False
    if old == new:
        return True
    import yaml

    def match(a: Any, b: Any) -> bool:
        if isinstance(a, dict) and isinstance(b, dict):
            if set(a) - set(b):
                return False
            return all(match(a[k], b[k]) if k in a else b[k] in (None, False, [], {}, "") for k in b)
        return a == b

    return match(yaml.safe_load(old), yaml.safe_load(new))


def _init_student(cfg: DistillConfig, device: str) -> torch.nn.Module:
    """The student, randomly initialised or started from ``student.weights`` (fine-tuning),
    run at ``student.input_size`` when that is set."""
    if cfg.student.weights:
        from lrface.models.weights import load_model

        model = load_model(cfg.student.weights, device=device)
        if cfg.student.arch and model.weights.arch != cfg.student.arch:
            raise ValueError(f"student.weights {cfg.student.weights} hold a {model.weights.arch}, "
                             f"not the configured {cfg.student.arch}")
        model.train()
    else:
        model = create_model(cfg.student_arch, **cfg.student.kwargs).to(device)
    if cfg.student.input_size:
        side = int(cfg.student.input_size)
        model.cfg = model.cfg.with_(input_size=(side, side))
    return model


def _autocast(cfg: DistillConfig, device: str):
    """bf16 autocast on CUDA when ``amp`` is on; a no-op context on CPU."""
    import contextlib

    if cfg.amp and str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.inference_mode()
def live_teacher(teacher: torch.nn.Module, hr: np.ndarray, taps: Dict[str, int], device: str):
    """Teacher outputs computed on the batch (what :class:`TeacherCache` stores)."""
    x = model_input(hr, teacher, channels_last=True).to(device)
    if not taps:
        return teacher(x).float(), {}
    feats = teacher.forward_features(x)
    pooled = {n: torch.nn.functional.adaptive_avg_pool2d(feats[n].float(), size).half().float()
              for n, size in taps.items()}
    return feats["embedding"].float(), pooled


def _teacher_tap_channels(teacher: torch.nn.Module, cfg: DistillConfig) -> Dict[str, int]:
    if not cfg.teacher_taps:
        return {}
    from lrface.distill.streams import tap_channels

    have = tap_channels(teacher)
    missing = [n for n in cfg.teacher_taps if n not in have]
    if missing:
        raise ValueError(f"teacher_taps: the teacher has no tap {missing[0]!r}; it has {', '.join(have)}")
    return {n: have[n] for n in cfg.teacher_taps}


def _export(cfg: DistillConfig, out: Path, student, assistant, teacher_sha: str, report, metrics,
            product: str = "student") -> Path:
    """``student.pt`` (+ ``assistant.pt``) as plain state dicts with manifest entries."""
    prov = provenance()
    last_val = next((r for r in reversed(metrics.rows) if r.get("val_auc") not in (None, "")), {})
    products = [(product, student)] + ([("assistant", assistant)] if assistant is not None else [])
    for role, model in products:
        path = out / f"{role}.pt"
        model.eval()
        save_atomic({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, path)
        spec = cfg.assistant if role == "assistant" else cfg.student
        meta = {"file": path.name, "arch": spec.arch or cfg.student_arch, "arch_kwargs": dict(spec.kwargs),
                **model.cfg.as_dict(), "sha256": sha256_file(path),
                "degradation": {"preset": "area", "res": cfg.res if role == "student" else None,
                                **({"sizes": [int(r) for r in cfg.res_mix]} if cfg.res_mix and role != "assistant"
                                   else {}),
                                "trained_with": list(cfg.degrade.presets)},
                "provenance": {"teacher_sha256": teacher_sha, "config": cfg.name, "commit": prov["commit"],
                               "dirty": prov["dirty"], "date": prov["date"],
                               "data": [r.path for r in cfg.data.roots] or ["synthetic"],
                               "overlap_guard": report.summary() if report is not None else "disabled"},
                "metrics": {k: float(v) for k, v in last_val.items() if k.startswith("val_")}}
        write_manifest_entry(out, f"{cfg.name}-{role}", meta)
    (out / "done.json").write_text(json.dumps({product: str(out / f"{product}.pt")}, indent=2))
    return out / f"{product}.pt"
