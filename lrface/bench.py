"""The benchmark runner behind ``lrface-bench``: models x resolutions x one protocol.

It sits on top of :mod:`lrface.eval` (protocols never see a model) and :mod:`lrface.models`
(models never see a dataset): it turns a model into the protocol's ``embed_fn``, caches
embeddings per (model, resolution, degradation, faces), times the embedding work, and
writes ``results.csv``, ``results.json`` and a ROC/CMC plot.

How a model sees faces is not decided here: the protocol degrades HR faces to ``res`` with
:func:`lrface.face.degrade.degrade`, and the runner hands them to
:func:`lrface.models.inputs.model_input`, the one function that ``lrface.embed`` and the
trainer use too (students: native size; HR models: bicubic back up to the input size).
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from lrface import __version__
from lrface.errors import WeightsError
from lrface.models.base import FaceModel
from lrface.models.inputs import VIEW_RECIPE, inference_copy, run_batches
from lrface.provenance import provenance
from lrface.models.weights import default_for_res, load_model, sha256_file

log = logging.getLogger(__name__)

@dataclass
class BenchModel:
    """A model as the runner uses it: a label for tables, its weights' sha256, the model."""

    label: str
    model: FaceModel
    sha256: str

    @property
    def is_student(self) -> bool:
        return self.model.cfg.role == "student"

    @functools.cached_property
    def fast(self) -> FaceModel:
        """BN-folded, channels-last copy for inference (see
        :func:`lrface.models.inputs.inference_copy`), the same form ``lrface.embed`` runs."""
        return inference_copy(self.model)


def load_bench_model(spec: str, device: str = "cpu", trust: bool = False) -> BenchModel:
    """``NAME``, ``PATH.pt`` or ``teacher:NAME_OR_PATH`` (an HR model fed upsampled LR faces)."""
    text = spec.split(":", 1)[1] if spec.startswith("teacher:") else spec
    model = load_model(text, trust=trust, device=device)
    entry = getattr(model, "weights", None)
    if entry is None and Path(text).suffix != ".pt":
        raise WeightsError(f"{text!r} is an architecture without trained weights: benchmarking it would measure "
                           "random embeddings; pass a model with weights (lrface.list_models(pretrained=True)) or a .pt")
    sha = (entry.sha256 if entry is not None and entry.sha256 else sha256_file(entry.path)) if entry else "unknown"
    label = Path(text).stem if Path(text).suffix == ".pt" else text
    if model.cfg.role != "student":
        label += " (HR model)"
    return BenchModel(label, model, sha)


def default_bench_model(res: Optional[int], device: str = "cpu") -> BenchModel:
    entry = default_for_res(res)
    model = load_model(entry.name, device=device)
    return BenchModel(entry.name, model, entry.sha256 or "unknown")


#: Bump when the embedding code changes in a way the key below does not capture.
CACHE_VERSION = 2


class EmbeddingCache:
    """Per-face embeddings on disk, so any subset or batching of faces seen before is served.

    The cache space of a call is keyed by the model's sha256, the resolution, the LR recipe,
    the model-view rules (:data:`lrface.models.inputs.VIEW_RECIPE`), the model config, the
    cache format, lrface and torch versions: neither a changed recipe nor an upgrade can serve
    a stale embedding. Within a space each face is keyed by the sha1 of its exact pixels;
    every call that computes new faces adds one shard file (atomic write) holding them.
    """

    def __init__(self, folder: Optional[Path]) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0
        self._tables: Dict[str, Dict[bytes, np.ndarray]] = {}

    def space(self, model_sha: str, res: Optional[int], extra: str = "") -> str:
        stamp = f"v{CACHE_VERSION}|lrface {__version__}|{VIEW_RECIPE}|torch {torch.__version__}"
        return hashlib.sha1(f"{stamp}|{model_sha}|{res}|{extra}".encode()).hexdigest()[:24]

    @staticmethod
    def face_keys(faces: np.ndarray) -> List[bytes]:
        shape = str(faces.shape[1:]).encode()
        return [hashlib.sha1(shape + np.ascontiguousarray(f).tobytes()).digest() for f in faces]

    def _table(self, space: str) -> Dict[bytes, np.ndarray]:
        if space not in self._tables:
            table: Dict[bytes, np.ndarray] = {}
            folder = self.folder / space if self.folder is not None else None
            if folder is not None and folder.is_dir():
                for shard in sorted(folder.glob("shard-*.npz")):
                    try:
                        with np.load(shard) as z:
                            table.update(zip((bytes(k) for k in z["keys"]), z["emb"]))
                    except (OSError, ValueError, KeyError):
                        log.warning("ignoring unreadable embedding-cache shard %s", shard)
            self._tables[space] = table
        return self._tables[space]

    def lookup(self, space: str, keys: Sequence[bytes]) -> List[Optional[np.ndarray]]:
        table = self._table(space)
        found = [table.get(k) for k in keys]
        self.hits += sum(f is not None for f in found)
        return found

    def store(self, space: str, keys: Sequence[bytes], emb: np.ndarray) -> None:
        self._table(space).update(zip(keys, emb))
        if self.folder is None or not len(keys):
            return
        folder = self.folder / space
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(b"".join(keys)).hexdigest()[:16]
        tmp = folder / f".shard-{name}.{os.getpid()}.tmp.npz"
        np.savez(tmp, keys=np.frombuffer(b"".join(keys), np.uint8).reshape(len(keys), -1), emb=emb)
        os.replace(tmp, folder / f"shard-{name}.npz")


class EmbedFn:
    """The protocol-facing ``embed_fn(faces, res)`` for one model (its fast copy), with
    the per-face cache and timing."""

    def __init__(self, bm: BenchModel, cache: EmbeddingCache, batch_size: int = 256, recipe: str = "") -> None:
        self.bm = bm
        self.recipe = recipe
        self.cache = cache
        self.batch_size = batch_size
        self.seconds = 0.0
        self.images = 0

    @torch.inference_mode()
    def __call__(self, faces: np.ndarray, res: Optional[int]) -> np.ndarray:
        m = self.bm.fast
        space = self.cache.space(self.bm.sha256, res, extra=f"{m.cfg}|{self.recipe}")
        keys = self.cache.face_keys(faces)
        found = self.cache.lookup(space, keys)
        miss = [i for i, f in enumerate(found) if f is None]
        if miss:
            t0 = time.perf_counter()
            new = run_batches(m, faces[miss] if len(miss) < len(faces) else faces, self.batch_size)
            self.seconds += time.perf_counter() - t0
            self.images += len(miss)
            self.cache.misses += len(miss)
            self.cache.store(space, [keys[i] for i in miss], new)
            for i, e in zip(miss, new):
                found[i] = e
        return np.stack(found).astype(np.float32, copy=False)


@dataclass
class SplitEmbedFn:
    """``embed_fn`` that embeds HR faces (``res=None``) with one model and LR faces with another."""

    hr: EmbedFn
    lr: EmbedFn

    def __call__(self, faces: np.ndarray, res: Optional[int]) -> np.ndarray:
        return (self.hr if res is None else self.lr)(faces, res)


def run(
    dataset: str,
    res_list: Sequence[Optional[int]],
    models: Sequence[str],
    *,
    mode: Optional[str] = None,
    root: Optional[str] = None,
    degrade_preset: str = "area",
    flip: bool = False,
    device: str = "cpu",
    batch_size: int = 256,
    cache_dir: Optional[Path] = None,
    protocol_kwargs: Optional[Dict[str, Any]] = None,
    trust: bool = False,
    hr_model: Optional[str] = None,
    progress: Callable[[str], None] = lambda s: None,
) -> List[Dict[str, Any]]:
    """Evaluate every (model, res) on ``dataset``; returns one row per pair (see module doc).

    ``hr_model``: in ``hr-lr`` mode, embed the HR side with this model instead (e.g. the
    teacher, or a shipped HR model), as a gallery of ID photos matched against LR probes is.
    Both models must embed into the same space (a student distilled from that teacher).
    """
    from lrface.eval.protocols import get_protocol
    from lrface.eval.protocols.faces import face_cache

    proto = get_protocol(dataset, root=root, degrade=degrade_preset, flip=flip, batch_size=batch_size,
                         **(protocol_kwargs or {}))
    mode = proto.resolve_mode(mode, next((r for r in res_list if r is not None), None))
    if hr_model is not None and mode != "hr-lr":
        raise ValueError("--hr-model applies to --mode hr-lr only")
    proto.check()  # a bad root fails here, before any model is loaded
    cache = EmbeddingCache(cache_dir / "embeddings" if cache_dir else None)
    prov = provenance()
    loaded: Dict[str, BenchModel] = {}
    rows: List[Dict[str, Any]] = []
    for res in res_list:
        specs = list(models) or [None]
        for spec in specs:
            key = f"default@{res}" if spec is None else spec
            if key not in loaded:
                loaded[key] = default_bench_model(res, device) if spec is None else load_bench_model(spec, device, trust)
            bm = loaded[key]
            fn: Any = EmbedFn(bm, cache, batch_size, recipe=degrade_preset)
            hr_fn = None
            if hr_model is not None:
                if hr_model not in loaded:
                    loaded[hr_model] = load_bench_model(hr_model, device, trust)
                hr_fn = EmbedFn(loaded[hr_model], cache, batch_size, recipe=degrade_preset)
                fn = SplitEmbedFn(hr=hr_fn, lr=fn)
            progress(f"{dataset} res={res} model={bm.label}")
            t0 = time.perf_counter()
            with face_cache(cache_dir / "faces" if cache_dir else None):
                out = proto.evaluate(fn, res=res, mode=mode)
            wall = time.perf_counter() - t0
            lr_fn = fn.lr if hr_fn is not None else fn
            out.update(
                model=bm.label, sha256=bm.sha256, role=bm.model.cfg.role,
                hr_model=loaded[hr_model].label if hr_model is not None else None,
                images_per_s=(lr_fn.images / lr_fn.seconds) if lr_fn.seconds > 0 else None,
                embedded=lr_fn.images + (hr_fn.images if hr_fn is not None else 0), seconds=round(wall, 3), device=str(device), cache_hits=cache.hits,
                **prov,
            )
            rows.append(out)
    return rows


# --------------------------------------------------------------------------- reporting

_TABLE_KEYS = ["dataset", "mode", "res", "model", "hr_model", "accuracy", "accuracy_std", "tar_at_far_1e-3", "auc",
               "rank1", "rank5", "rank1_d1", "rank1_d2", "rank1_d3", "dir_at_far_1e-2", "images_per_s", "seconds"]


def scalar_rows(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Rows without arrays or private keys (what goes to CSV); lists are kept for JSON only."""
    out = []
    for r in rows:
        out.append({k: v for k, v in r.items() if not k.startswith("_") and not isinstance(v, (list, tuple, np.ndarray))})
    return out


def json_rows(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    def conv(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, (np.floating, np.integer)):
            return v.item()
        return v
    return [{k: conv(v) for k, v in r.items() if not k.startswith("_")} for r in rows]


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    """A readable fixed-width table (pandas): accuracies in percent."""
    import pandas as pd

    df = pd.DataFrame(scalar_rows(rows))
    cols = [c for c in _TABLE_KEYS if c in df.columns and df[c].notna().any()]
    cols += [c for c in df.columns if c.startswith("rank1_") and c.endswith("px") and c not in cols]
    df = df[cols].copy()
    for c in df.columns:
        if c in ("accuracy", "accuracy_std", "auc") or c.startswith(("rank", "tar_", "dir_")):
            df[c] = (100 * df[c].astype(float)).round(2)
    if "images_per_s" in df:
        df["images_per_s"] = df["images_per_s"].astype(float).round(0)
    return df.to_string(index=False)


def write_results(rows: Sequence[Dict[str, Any]], out: Path) -> Dict[str, Path]:
    """``results.csv``, ``results.json`` and ``curves.png`` (ROC or CMC) in ``out``."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "results.csv", "json": out / "results.json"}
    pd.DataFrame(scalar_rows(rows)).to_csv(paths["csv"], index=False)
    paths["json"].write_text(json.dumps(json_rows(rows), indent=2))
    png = plot_curves(rows, out / "curves.png")
    if png is not None:
        paths["png"] = png
    return paths


def plot_curves(rows: Sequence[Dict[str, Any]], path: Path) -> Optional[Path]:
    """ROC (verification rows) or CMC (identification rows); skipped without matplotlib."""
    try:
        # The object API, not pyplot: drawing a file must not switch the caller's backend.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        log.info("matplotlib not installed: no plot")
        return None
    from lrface.eval.metrics import roc

    fig = Figure(figsize=(6, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    drawn = False
    for r in rows:
        name = f"{r.get('model')} {r.get('res')}px"
        if "_scores" in r:
            fpr, tpr, _ = roc(np.asarray(r["_scores"]), np.asarray(r["_labels"]))
            ax.plot(np.maximum(fpr, 1e-4), tpr, label=name)
            ax.set_xscale("log")
            ax.set_xlabel("false accept rate")
            ax.set_ylabel("true accept rate")
            drawn = True
        else:
            for k, v in r.items():
                if k.startswith("cmc") and isinstance(v, list) and v:
                    ax.plot(np.arange(1, len(v) + 1), v, marker="o", label=f"{name} {k}")
                    ax.set_xlabel("rank")
                    ax.set_ylabel("identification rate")
                    drawn = True
    if not drawn:
        return None
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{rows[0].get('dataset')} ({rows[0].get('mode')})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    path.write_bytes(buf.getvalue())
    return path
