"""Teacher feature cache: the frozen teacher runs once per training face, not once per step.

The teacher is frozen and sees clean HR faces, and the only HR augmentation it sees is the
mirror flip and, with ``views:`` (:mod:`lrface.distill.views`), a fixed set of jittered copies
per face, so its outputs for a training face take 2 (+ ``views.count``) values. They are
computed once (through :func:`lrface.models.inputs.model_input`, the one LR path) and stored
memory-mapped beside the face pack, keyed by the teacher's sha256 and the pack's content
hash. A distillation step then costs about the student's own forward and backward.

A new pack that shares faces with packs cached before (a root added to a config, a root
dropped) reuses their rows: every cache stores a sha1 per face, and only the faces no cache of
the same teacher (and taps) holds go through the teacher.

Stored per face and view (0 = as is, 1 = mirrored, 2.. = jittered): the raw embedding ``(D,)`` float32 and,
for losses that need them, named feature taps average-pooled to a small fixed size
(``{"stage3": 4}`` stores the 4x4 pooled map) in float16. Pooling first is what makes tap
caching affordable (a 14x14x128 map would need 50 KB a view); losses that compare maps pool
the larger map to the smaller one anyway, so for them only the order of pooling and their
own nonlinearity changes.

Example:
    >>> cache = TeacherCache.build(teacher, "sha...", pack, "/tmp/cache")  # doctest: +SKIP
    >>> cache.embeddings(np.array([0, 5]), np.array([0, 1])).shape         # doctest: +SKIP
    torch.Size([2, 128])
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from lrface.data.packed import SIZE, PackedFaces
from lrface.distill.config import ViewsCfg
from lrface.distill.views import FIRST_JITTERED, render_views
from lrface.models.base import FaceModel
from lrface.models.inputs import VIEW_RECIPE, inference_copy, model_input

log = logging.getLogger(__name__)

CACHE_VERSION = 1
DIGESTS = "faces.sha1.npy"  # (N, 20) uint8: sha1 of each face's bytes, to reuse rows across packs


def face_digests(images: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """sha1 of every face's bytes, ``(N, 20)`` uint8 (a memmap is read in chunks)."""
    out = np.empty((len(images), 20), np.uint8)
    for s in range(0, len(images), chunk):
        block = np.ascontiguousarray(images[s : s + chunk])
        for j in range(len(block)):
            out[s + j] = np.frombuffer(hashlib.sha1(block[j].data).digest(), np.uint8)
    return out


def _digests_of(folder: Path, info: Dict, cache_dir: Path) -> Optional[np.ndarray]:
    """The per-face digests of an existing cache; for caches made before digests were stored,
    computed once from the pack they were built on when that pack is still in the cache folder."""
    path = folder / DIGESTS
    if path.is_file():
        return np.load(path)
    for meta_path in (cache_dir / "packs").glob("*.json"):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("content_sha1") != info.get("pack"):
            continue
        data = meta_path.with_suffix(".u8")
        n = len(meta["relpaths"])
        if not data.is_file() or data.stat().st_size != n * SIZE * SIZE * 3 or n != info.get("faces"):
            continue
        digests = face_digests(np.memmap(data, np.uint8, "r", shape=(n, SIZE, SIZE, 3)))
        tmp = folder / f".{DIGESTS}.{os.getpid()}"
        with open(tmp, "wb") as f:
            np.save(f, digests)
        os.replace(tmp, path)
        return digests
    return None


def _spec_dict(views: Optional[ViewsCfg]) -> Dict[str, float]:
    """What fixes the jittered views' pixels (``count`` only says how many there are)."""
    if views is None or views.count == 0:
        return {}
    return {k: v for k, v in asdict(views).items() if k != "count"}


def _reuse_rows(cache_dir: Path, key: str, digests: np.ndarray, emb: np.ndarray, taps: Mapping[str, int],
                spec: Dict[str, float], tmaps: Dict[str, np.ndarray], folder: Path) -> np.ndarray:
    """Fill ``emb`` ``(N, V, D)`` (and tap maps) with the rows that complete caches of the same
    teacher and taps hold for the same face bytes: the face and mirror views from any of them,
    jittered views only from caches made with the same view settings. Returns the boolean
    ``(N, V)`` mask of what was filled."""
    n, n_views, d = emb.shape
    filled = np.zeros((n, n_views), bool)
    index: Dict[bytes, List[int]] = {}
    for i in range(n):  # a face stored twice (duplicate files) fills both rows
        index.setdefault(digests[i].tobytes(), []).append(i)
    teacher_part = key.split("-", 1)[0]
    for other in sorted((cache_dir / "teacher").glob(f"{teacher_part}-*")):
        info_path = other / "info.json"
        if other.name == key or not info_path.is_file():
            continue
        info = json.loads(info_path.read_text())
        if dict(info.get("taps") or {}) != dict(taps):
            continue
        o_views = int(info.get("views", 2))
        usable = min(n_views, o_views) if spec and info.get("view_spec") == spec else min(n_views, 2)
        theirs = _digests_of(other, info, cache_dir)
        if theirs is None:
            continue
        o_emb = np.load(other / "emb.npy", mmap_mode="r")
        if o_emb.shape[1:] != (o_views, d) or len(o_emb) != len(theirs):
            continue
        pairs = [(i, j) for j, t in enumerate(theirs) for i in index.get(t.tobytes(), ())
                 if not filled[i, :usable].all()]
        if not pairs:
            continue
        mine, src = (np.array(x, np.int64) for x in zip(*pairs))
        order = np.argsort(src, kind="stable")  # read the source memmap in order
        mine, src = mine[order], src[order]
        emb[mine, :usable] = o_emb[src, :usable]
        for name in taps:
            o_tap = np.load(other / f"tap-{name}.npy", mmap_mode="r")
            if name not in tmaps:
                tmaps[name] = np.lib.format.open_memmap(folder / f".tap-{name}.npy", "w+", np.float16,
                                                        (n, n_views) + o_tap.shape[2:])
            tmaps[name][mine, :usable] = o_tap[src, :usable]
        filled[mine, :usable] = True
        if filled.all():
            break
    return filled


class TeacherCache:
    """Teacher outputs for every face of a pack in each of its views: the face (0), its
    mirror (1) and, with ``views``, the consistent jittered views (2..)."""

    def __init__(self, emb: np.ndarray, taps: Mapping[str, np.ndarray], info: Dict, digests: np.ndarray) -> None:
        self.emb = emb  # (N, V, D) float32
        self.taps = dict(taps)  # name -> (N, V, C, s, s) float16
        self.info = info
        self.digests = digests  # (N, 20) uint8: sha1 of each face (keys the jittered views)

    def embeddings(self, pack_idx: np.ndarray, view: np.ndarray) -> torch.Tensor:
        """Raw teacher embeddings ``(B, D)`` of faces ``pack_idx`` in views ``view`` (1: mirrored)."""
        return torch.from_numpy(np.asarray(self.emb[np.asarray(pack_idx), np.asarray(view, np.int64)]))

    def tap(self, name: str, pack_idx: np.ndarray, view: np.ndarray) -> torch.Tensor:
        """A cached pooled tap ``(B, C, s, s)`` float32."""
        if name not in self.taps:
            raise KeyError(f"tap {name!r} is not cached (cached: {', '.join(self.taps) or 'none'}); "
                           "add it to the run's teacher_taps")
        return torch.from_numpy(np.asarray(self.taps[name][np.asarray(pack_idx), np.asarray(view, np.int64)])).float()

    @classmethod
    def build(
        cls,
        teacher: FaceModel,
        teacher_sha: str,
        pack: PackedFaces,
        cache_dir: Union[str, Path],
        taps: Optional[Mapping[str, int]] = None,
        batch_size: int = 128,
        progress: bool = True,
        views: Optional[ViewsCfg] = None,
    ) -> "TeacherCache":
        """Load the cache for (teacher, pack, taps, views) or compute it (with a progress bar)."""
        taps = dict(taps or {})
        spec = _spec_dict(views)
        n_views = FIRST_JITTERED + (views.count if spec else 0)
        tap_key = ",".join(f"{k}:{v}" for k, v in sorted(taps.items()))
        tap_hash = hashlib.sha1(tap_key.encode()).hexdigest()[:8]
        # The teacher part of the key also names how the teacher sees a face (the view rules and
        # its input config): a change to either must not serve, or lend rows to, stale outputs.
        view = hashlib.sha1(f"{VIEW_RECIPE}|{teacher.cfg}".encode()).hexdigest()[:6]
        key = f"{teacher_sha[:16]}.{view}-{pack.content_key[:16]}-v{CACHE_VERSION}" + (f"-{tap_hash}" if taps else "")
        if spec:  # caches without jittered views keep the keys they always had
            key += "-j" + hashlib.sha1(json.dumps([n_views, spec], sort_keys=True).encode()).hexdigest()[:8]
        folder = Path(cache_dir) / "teacher" / key
        info_path = folder / "info.json"
        n, d = len(pack.images), teacher.embedding_size
        if info_path.is_file():
            info = json.loads(info_path.read_text())
            emb = np.load(folder / "emb.npy", mmap_mode="r")
            tmaps = {k: np.load(folder / f"tap-{k}.npy", mmap_mode="r") for k in info.get("taps", {})}
            digests = _digests_of(folder, info, Path(cache_dir))
            if digests is None:  # a cache older than digests whose pack is gone: from this pack
                digests = face_digests(pack.images)
                np.save(folder / DIGESTS, digests)
            log.info("teacher cache hit: %s", folder)
            return cls(emb, tmaps, info, digests)
        folder.mkdir(parents=True, exist_ok=True)
        digests = face_digests(pack.images)
        emb = np.lib.format.open_memmap(folder / ".emb.npy", "w+", np.float32, (n, n_views, d))
        tmaps: Dict[str, np.ndarray] = {}
        t0 = time.perf_counter()
        filled = _reuse_rows(Path(cache_dir), key, digests, emb, taps, spec, tmaps, folder)
        if filled.any():
            log.info("teacher cache: %d of %d face views reused from earlier caches", int(filled.sum()), filled.size)
        fast = inference_copy(teacher)
        dev = next(fast.parameters()).device
        from tqdm import tqdm

        computed = 0
        bar = tqdm(total=int((~filled).sum()), desc="teacher cache", unit="view", disable=not progress)
        with torch.inference_mode():
            for view in range(n_views):
                todo = np.flatnonzero(~filled[:, view])
                for b in range(0, len(todo), batch_size):
                    rows = todo[b : b + batch_size]
                    x = render_views(views, np.asarray(pack.images[rows]), digests[rows], view) if view else \
                        np.asarray(pack.images[rows])
                    inp = model_input(np.ascontiguousarray(x), fast, channels_last=True).to(dev)
                    feats = fast.forward_features(inp) if taps else {"embedding": fast(inp)}
                    emb[rows, view] = feats["embedding"].float().cpu().numpy()
                    for name, size in taps.items():
                        if name not in feats:
                            raise KeyError(f"teacher has no tap {name!r}; it has {', '.join(feats)}")
                        pooled = F.adaptive_avg_pool2d(feats[name].float(), size).cpu().numpy().astype(np.float16)
                        if name not in tmaps:
                            tmaps[name] = np.lib.format.open_memmap(folder / f".tap-{name}.npy", "w+", np.float16,
                                                                    (n, n_views) + pooled.shape[1:])
                        tmaps[name][rows, view] = pooled
                    computed += len(rows)
                    bar.update(len(rows))
        bar.close()
        seconds = time.perf_counter() - t0
        emb.flush()
        del emb
        os.replace(folder / ".emb.npy", folder / "emb.npy")
        for name, arr in tmaps.items():
            arr.flush()
            os.replace(folder / f".tap-{name}.npy", folder / f"tap-{name}.npy")
        np.save(folder / DIGESTS, digests)
        # faces_per_s: teacher forwards per second over the views computed here (not reused)
        info = {"teacher_sha256": teacher_sha, "pack": pack.content_key, "faces": n, "views": n_views,
                "taps": taps, "reused_faces": int(filled.all(axis=1).sum()), "reused_views": int(filled.sum()),
                "seconds": round(seconds, 2), "faces_per_s": round(computed / max(seconds, 1e-9), 1)}
        if spec:
            info["view_spec"] = spec
        info_path.write_text(json.dumps(info, indent=2))  # written last: its presence marks a complete cache
        log.info("teacher cache: %d faces x %d views in %.1f s (%.1f forwards/s)", n, n_views, seconds,
                 info["faces_per_s"])
        return cls.build(teacher, teacher_sha, pack, cache_dir, taps, batch_size, progress=False, views=views)
