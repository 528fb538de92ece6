"""Teacher feature cache: the frozen teacher runs once per training face, not once per step.

The teacher is frozen and sees clean HR faces, and the only HR augmentation is the mirror
flip, so its outputs for a training face take two values: the face and its mirror. They are
computed once (through :func:`lrface.models.inputs.model_input`, the one LR path) and stored
memory-mapped beside the face pack, keyed by the teacher's sha256 and the pack's content
hash. A distillation step then costs about the student's own forward and backward.

Stored per face and view (0 = as is, 1 = mirrored): the raw embedding ``(D,)`` float32 and,
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
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from lrface.data.packed import PackedFaces
from lrface.models.base import FaceModel
from lrface.models.inputs import inference_copy, model_input

log = logging.getLogger(__name__)

CACHE_VERSION = 1


class TeacherCache:
    """Teacher outputs for every face of a pack and its mirror image."""

    def __init__(self, emb: np.ndarray, taps: Mapping[str, np.ndarray], info: Dict) -> None:
        self.emb = emb  # (N, 2, D) float32
        self.taps = dict(taps)  # name -> (N, 2, C, s, s) float16
        self.info = info

    def embeddings(self, pack_idx: np.ndarray, flip: np.ndarray) -> torch.Tensor:
        """Raw teacher embeddings ``(B, D)`` of faces ``pack_idx``, mirrored where ``flip``."""
        return torch.from_numpy(np.asarray(self.emb[np.asarray(pack_idx), np.asarray(flip, np.int64)]))

    def tap(self, name: str, pack_idx: np.ndarray, flip: np.ndarray) -> torch.Tensor:
        """A cached pooled tap ``(B, C, s, s)`` float32."""
        if name not in self.taps:
            raise KeyError(f"tap {name!r} is not cached (cached: {', '.join(self.taps) or 'none'}); "
                           "add it to the run's teacher_taps")
        return torch.from_numpy(np.asarray(self.taps[name][np.asarray(pack_idx), np.asarray(flip, np.int64)])).float()

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
    ) -> "TeacherCache":
        """Load the cache for (teacher, pack) or compute it (with a progress bar)."""
        taps = dict(taps or {})
        tap_key = ",".join(f"{k}:{v}" for k, v in sorted(taps.items()))
        tap_hash = hashlib.sha1(tap_key.encode()).hexdigest()[:8]
        key = f"{teacher_sha[:16]}-{pack.content_key[:16]}-v{CACHE_VERSION}" + (f"-{tap_hash}" if taps else "")
        folder = Path(cache_dir) / "teacher" / key
        info_path = folder / "info.json"
        n, d = len(pack.images), teacher.embedding_size
        if info_path.is_file():
            info = json.loads(info_path.read_text())
            emb = np.load(folder / "emb.npy", mmap_mode="r")
            tmaps = {k: np.load(folder / f"tap-{k}.npy", mmap_mode="r") for k in info.get("taps", {})}
            log.info("teacher cache hit: %s", folder)
            return cls(emb, tmaps, info)
        folder.mkdir(parents=True, exist_ok=True)
        fast = inference_copy(teacher)
        dev = next(fast.parameters()).device
        emb = np.lib.format.open_memmap(folder / ".emb.npy", "w+", np.float32, (n, 2, d))
        tmaps: Dict[str, np.ndarray] = {}
        from tqdm import tqdm

        t0 = time.perf_counter()
        with torch.inference_mode():
            for s in tqdm(range(0, n, batch_size), desc="teacher cache", unit="batch", disable=not progress):
                faces = np.asarray(pack.images[s : s + batch_size])
                for view, x in enumerate((faces, np.ascontiguousarray(faces[:, :, ::-1]))):
                    inp = model_input(x, fast, channels_last=True).to(dev)
                    feats = fast.forward_features(inp) if taps else {"embedding": fast(inp)}
                    emb[s : s + len(x), view] = feats["embedding"].float().cpu().numpy()
                    for name, size in taps.items():
                        if name not in feats:
                            raise KeyError(f"teacher has no tap {name!r}; it has {', '.join(feats)}")
                        pooled = F.adaptive_avg_pool2d(feats[name].float(), size).cpu().numpy().astype(np.float16)
                        if name not in tmaps:
                            tmaps[name] = np.lib.format.open_memmap(folder / f".tap-{name}.npy", "w+", np.float16,
                                                                    (n, 2) + pooled.shape[1:])
                        tmaps[name][s : s + len(x), view] = pooled
        seconds = time.perf_counter() - t0
        emb.flush()
        del emb
        os.replace(folder / ".emb.npy", folder / "emb.npy")
        for name, arr in tmaps.items():
            arr.flush()
            os.replace(folder / f".tap-{name}.npy", folder / f"tap-{name}.npy")
        info = {"teacher_sha256": teacher_sha, "pack": pack.content_key, "faces": n, "views": 2,
                "taps": taps, "seconds": round(seconds, 2), "faces_per_s": round(2 * n / max(seconds, 1e-9), 1)}
        info_path.write_text(json.dumps(info, indent=2))  # written last: its presence marks a complete cache
        log.info("teacher cache: %d faces x 2 views in %.1f s (%.1f forwards/s)", n, seconds, info["faces_per_s"])
        return cls.build(teacher, teacher_sha, pack, cache_dir, taps, batch_size, progress=False)
