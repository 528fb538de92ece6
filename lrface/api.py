"""The public API: images in, unit-norm float32 embeddings out.

``embed`` does what a user would otherwise wire by hand: read any image source, find and
align the face, degrade it exactly as the model's weights expect (their manifest names the
LR size and the resampling kernel), run the model, L2-normalise. ``verify`` compares two
faces with the model's calibrated threshold, and :class:`Gallery` does 1:N search.

Example:
    >>> import lrface                                           # doctest: +SKIP
    >>> e = lrface.embed(["a.jpg", "b.jpg"], model="weights/y1.pt")  # doctest: +SKIP
    >>> e.shape, float((e[0] * e[1]).sum())                     # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from lrface.errors import NoFaceError, WeightsError
from lrface.eval.protocols.base import l2_normalize
from lrface.face.degrade import Degradation, get_preset
from lrface.face.io import read_image
from lrface.models.base import FaceModel
from lrface.models.inputs import inference_copy, lr_faces, model_view, run_batches
from lrface.models.weights import load_model

log = logging.getLogger(__name__)

ModelLike = Union[None, str, Path, FaceModel]

# Models that embed() loaded itself, as BN-folded inference copies (the form lrface-bench
# runs, see lrface.models.inputs.inference_copy). Keyed by what was asked for and the device;
# each value remembers the stat of its weights file and manifest, so a file changed on disk is
# reloaded instead of served stale. A model the caller passes in is never cached or moved.
_MODEL_CACHE: Dict[Tuple[str, Optional[int], str, str], Tuple[Tuple[Any, ...], FaceModel]] = {}


def _stat(path: Optional[Path]) -> Tuple[Any, ...]:
    try:
        st = Path(path).stat() if path is not None else None
    except OSError:
        return (str(path), None)
    return (str(path), st.st_mtime_ns, st.st_size) if st is not None else (None,)


def _weights_stamp(m: FaceModel) -> Tuple[Any, ...]:
    entry = getattr(m, "weights", None)
    if entry is None:
        return (None,)
    return _stat(entry.path) + _stat(Path(entry.path).parent / "MANIFEST.yaml")


def _get_model(model: ModelLike, res: Optional[int], device: Optional[str]) -> FaceModel:
    """The model to run: the caller's own module as it is, or a cached inference copy."""
    if isinstance(model, torch.nn.Module):
        if device is not None:
            have = next(model.parameters()).device
            if torch.device(device) != have:
                raise ValueError(
                    f"the model you passed is on {have}, not {device}: embed() does not move a caller's "
                    f"model; call model.to({str(device)!r}) yourself, or pass a name/path to load a copy there"
                )
        return model
    dev = str(torch.device(device or "cpu"))
    key = (str(model), res if model is None else None, dev, os.environ.get("LRFACE_WEIGHTS", ""))
    hit = _MODEL_CACHE.get(key)
    if hit is not None and hit[0] == _weights_stamp(hit[1]):
        return hit[1]
    if hit is not None:
        log.info("weights of %s changed on disk: reloading", model)
    loaded = load_model(model, res=res, device=dev)
    if getattr(loaded, "weights", None) is None:
        raise WeightsError(
            f"{model!r} is an architecture without trained weights: its embeddings would be random. "
            "Pass a model with weights (lrface.list_models(pretrained=True)), a .pt with a manifest entry, "
            "or a model object you built yourself"
        )
    fast = inference_copy(loaded)
    _MODEL_CACHE[key] = (_weights_stamp(fast), fast)
    return fast


def _as_list(images: Any) -> Tuple[List[Any], bool]:
    """Split the input into items; ``True`` when a single image was given."""
    if isinstance(images, (list, tuple)):
        return list(images), False
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images), False
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        return list(images), False
    return [images], True


def _lr_recipe(model: FaceModel) -> Degradation:
    """The resampling of the model's weights' degradation preset (default ``area``).

    Only the deterministic part is used at inference (kernel, antialias): random blur, noise
    and JPEG are training augmentations, not something to add to a user's photo.
    """
    entry = getattr(model, "weights", None)
    deg = dict(entry.degradation) if entry is not None else {}
    base = get_preset(deg.get("preset", "area"))
    return Degradation(kernel=base.kernel, antialias=base.antialias)


def _lr_faces(
    items: List[Any], model: FaceModel, res: Optional[int], align: bool, on_no_face: str
) -> Tuple[List[Optional[np.ndarray]], np.ndarray]:
    """Read, align (onto the 112x112 template), degrade to ``res``: step 1 of the one LR path
    (:mod:`lrface.models.inputs`). Returns one LR face per item (``None``: no face) and the
    mask of found faces."""
    from lrface.face.pipeline import DEFAULT_PAD_RETRY, detect_and_align

    recipe = _lr_recipe(model)
    out: List[Optional[np.ndarray]] = []
    found = np.ones(len(items), bool)
    for i, item in enumerate(items):
        img = read_image(item)
        if align:
            got = detect_and_align(img, size=(112, 112), pad_retry=DEFAULT_PAD_RETRY)
            if got is None:
                if on_no_face == "raise":
                    name = item if isinstance(item, (str, Path)) else f"image #{i}"
                    raise NoFaceError(
                        f"no face found in {name}; pass align=False for pre-aligned crops, "
                        "or on_no_face='nan' to get a NaN row instead"
                    )
                found[i] = False
                out.append(None)
                continue
            img = got.image
        out.append(lr_faces(img, res, recipe)[0])
    return out, found


@torch.inference_mode()
def embed(
    images: Any,
    model: ModelLike = None,
    res: Optional[int] = None,
    align: bool = True,
    batch_size: int = 256,
    device: Optional[str] = None,
    flip: bool = False,
    on_no_face: str = "raise",
) -> np.ndarray:
    """Embed faces: ``(N, D)`` float32, unit L2 norm.

    Args:
        images: a path, bytes, PIL image, HxWx3 RGB array or tensor, or a list / 4-D batch of them.
        model: a model name, a ``.pt`` path with a manifest entry, a loaded model, or ``None``
            for the shipped default student for ``res``.
        res: simulate a face of this many pixels for HR models (degrade, then resize to the
            model input); picks the default student when ``model`` is ``None``.
        align: detect and align faces (MTCNN + ArcFace template). ``False``: inputs are
            already aligned crops (any size; resized to the model's input).
        batch_size: model batch size.
        device: where to load a model given by name or path (default ``"cpu"``); a model
            object is used where it is (a different ``device`` is an error: embed() never
            moves a caller's model).
        flip: add the embedding of the mirrored face before normalising (flip-TTA).
        on_no_face: ``"raise"`` (:class:`lrface.NoFaceError`, default) or ``"nan"`` (that
            row is all NaN).

    Returns:
        ``np.ndarray`` of shape (N, D), float32; one row per input (N = 1 for one image).

    Raises:
        lrface.ImageReadError: an input cannot be read.
        lrface.NoFaceError: no face found and ``on_no_face="raise"``.
    """
    if on_no_face not in ("raise", "nan"):
        raise ValueError(f"on_no_face must be 'raise' or 'nan', got {on_no_face!r}")
    m = _get_model(model, res, device)
    items, _ = _as_list(images)
    lrs, found = _lr_faces(items, m, res, align, on_no_face)
    out = np.full((len(items), m.embedding_size), np.nan, np.float32)
    idx = np.flatnonzero(found)
    if len(idx):
        # Each face goes through the same view as in lrface-bench (faces can differ in size
        # here, so views are made one by one, then run in the same batches).
        views = np.concatenate([model_view(lrs[i], m) for i in idx])
        e = run_batches(m, views, batch_size).astype(np.float64)
        if flip:
            flipped = np.concatenate([model_view(np.ascontiguousarray(lrs[i][:, ::-1]), m) for i in idx])
            e = e + run_batches(m, flipped, batch_size)
        out[idx] = l2_normalize(e)
    return out


@dataclass(frozen=True)
class Verification:
    """Result of :func:`verify`: cosine ``score`` and the ``same`` decision at ``threshold``."""

    score: float
    same: Optional[bool]
    threshold: Optional[float]

    def __float__(self) -> float:
        return self.score


def verify(a: Any, b: Any, model: ModelLike = None, res: Optional[int] = None,
           threshold: Optional[float] = None, align: bool = True, flip: bool = True) -> Verification:
    """Are ``a`` and ``b`` the same person?

    The decision uses ``threshold`` or the one calibrated in the model's manifest
    (``lrface-bench --dataset lfw ... --calibrate`` stores it, measured with flip-TTA, hence
    ``flip=True`` by default); without either, ``same`` is ``None`` and only the score is
    returned.

    Example:
        >>> r = verify("a.jpg", "b.jpg", model="weights/y1.pt")  # doctest: +SKIP
        >>> r.score, r.same
    """
    m = _get_model(model, res, None)
    e = embed([a, b], model=m, res=res, align=align, flip=flip)
    score = float(np.dot(e[0], e[1]))
    entry = getattr(m, "weights", None)
    t = threshold if threshold is not None else (entry.threshold if entry is not None else None)
    return Verification(score, None if t is None else bool(score >= t), t)


class Gallery:
    """1:N search over enrolled embeddings.

    Exact cosine search with numpy by default; with ``backend="faiss"`` (``pip install
    faiss-cpu``) an inner-product FAISS index, for galleries of millions.

    Example:
        >>> g = Gallery()
        >>> g.add(np.eye(3, dtype=np.float32), ["a", "b", "c"])
        >>> g.search(np.array([[0.0, 1.0, 0.0]], np.float32), k=1)[0][0]
        ('b', 1.0)
    """

    def __init__(self, backend: str = "numpy") -> None:
        if backend not in ("numpy", "faiss"):
            raise ValueError("backend must be 'numpy' or 'faiss'")
        self.backend = backend
        self._emb = np.zeros((0, 0), np.float32)
        self.labels: List[Any] = []
        self._index = None

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, embeddings: np.ndarray, labels: Sequence[Any]) -> None:
        """Enrol embeddings (N, D) (normalised here) with one label each."""
        e = np.asarray(embeddings, np.float32)
        if e.ndim != 2 or len(e) != len(labels):
            raise ValueError(f"need (N, D) embeddings and N labels, got {e.shape} and {len(labels)}")
        if len(self) and e.shape[1] != self._emb.shape[1]:
            raise ValueError(f"embedding size {e.shape[1]} differs from the gallery's {self._emb.shape[1]}")
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        self._emb = e if not len(self) else np.concatenate([self._emb, e])
        self.labels.extend(labels)
        self._index = None

    def enrol(self, images: Any, labels: Sequence[Any], **embed_kw: Any) -> None:
        """Embed ``images`` with :func:`embed` and add them."""
        self.add(embed(images, **embed_kw), labels)

    def search(self, probes: np.ndarray, k: int = 5) -> List[List[Tuple[Any, float]]]:
        """Top-``k`` ``(label, cosine)`` per probe embedding, best first."""
        if not len(self):
            raise ValueError("the gallery is empty; add() embeddings first")
        p = np.asarray(probes, np.float32)
        p = p[None] if p.ndim == 1 else p
        p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
        k = min(k, len(self))
        if self.backend == "faiss":
            scores, idx = self._faiss().search(p, k)
        else:
            sims = p @ self._emb.T
            idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            part = np.take_along_axis(sims, idx, 1)
            order = np.argsort(-part, axis=1, kind="stable")
            idx = np.take_along_axis(idx, order, 1)
            scores = np.take_along_axis(part, order, 1)
        return [[(self.labels[j], round(float(s), 6)) for j, s in zip(ri, rs)] for ri, rs in zip(idx, scores)]

    def _faiss(self):
        if self._index is None:
            try:
                import faiss  # optional extra
            except ImportError:
                raise ImportError("backend='faiss' needs `pip install faiss-cpu`") from None
            self._index = faiss.IndexFlatIP(self._emb.shape[1])
            self._index.add(self._emb)
        return self._index

    def save(self, path: Union[str, Path]) -> None:
        """Save embeddings and labels to an ``.npz`` (labels stored as strings)."""
        np.savez(path, embeddings=self._emb, labels=np.array([str(x) for x in self.labels]))

    @classmethod
    def load(cls, path: Union[str, Path], backend: str = "numpy") -> "Gallery":
        data = np.load(path, allow_pickle=False)
        g = cls(backend)
        g.add(data["embeddings"], list(data["labels"]))
        return g
