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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from lrface.errors import NoFaceError
from lrface.face.align import template_for
from lrface.face.degrade import Degradation, degrade, get_preset
from lrface.face.io import read_image
from lrface.models.base import FaceModel, preprocess
from lrface.models.weights import load_model

log = logging.getLogger(__name__)

ModelLike = Union[None, str, Path, FaceModel]
_MODEL_CACHE: Dict[Tuple[str, Optional[int]], FaceModel] = {}


def _get_model(model: ModelLike, res: Optional[int], device: Optional[str]) -> FaceModel:
    if isinstance(model, torch.nn.Module):
        return model
    key = (str(model), res if model is None else None)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = load_model(model, res=res)
    m = _MODEL_CACHE[key]
    return m.to(device) if device else m


def _as_list(images: Any) -> Tuple[List[Any], bool]:
    """Split the input into items; ``True`` when a single image was given."""
    if isinstance(images, (list, tuple)):
        return list(images), False
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images), False
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        return list(images), False
    return [images], True


def _template_size(model: FaceModel) -> Tuple[int, int]:
    return (112, 96) if model.cfg.template == "arcface_112x96" else (112, 112)


def _lr_recipe(model: FaceModel, res: Optional[int]) -> Tuple[Optional[int], Degradation]:
    """The LR size and resampling the model expects, from its weights' manifest.

    Only the deterministic part of the recipe is used at inference (kernel, antialias):
    random noise/JPEG are training augmentations, not something to add to a user's photo.
    """
    entry = getattr(model, "weights", None)
    deg = dict(entry.degradation) if entry is not None else {}
    base = get_preset(deg.get("preset", "area"))
    recipe = Degradation(kernel=base.kernel, antialias=base.antialias)
    native = model.cfg.input_size[0]
    if model.cfg.role == "student":
        return native, recipe  # students see faces at their native LR size
    return res, recipe  # HR models: optional LR simulation, then back up to input size


def _prepare_faces(
    items: List[Any], model: FaceModel, res: Optional[int], align: bool, on_no_face: str
) -> Tuple[np.ndarray, np.ndarray]:
    """Read, align, degrade. Returns (faces at model input size, mask of found faces)."""
    from lrface.face.pipeline import DEFAULT_PAD_RETRY, detect_and_align

    size = _template_size(model)
    lr, recipe = _lr_recipe(model, res)
    in_h, in_w = model.cfg.input_size
    faces = np.zeros((len(items), in_h, in_w, 3), np.uint8)
    found = np.ones(len(items), bool)
    for i, item in enumerate(items):
        img = read_image(item)
        if align:
            got = detect_and_align(img, size=size, pad_retry=DEFAULT_PAD_RETRY)
            if got is None:
                if on_no_face == "raise":
                    name = item if isinstance(item, (str, Path)) else f"image #{i}"
                    raise NoFaceError(
                        f"no face found in {name}; pass align=False for pre-aligned crops, "
                        "or on_no_face='nan' to get a NaN row instead"
                    )
                found[i] = False
                continue
            crop = got.image
        else:
            crop = img
        if lr is not None and crop.shape[0] > lr:
            crop = degrade(crop, lr, recipe, upsample=None)
        if crop.shape[:2] != (in_h, in_w):
            crop = degrade(crop, (in_h, in_w), Degradation(kernel="bicubic", antialias=True))
        faces[i] = crop
    return faces, found


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
        device: ``"cpu"``, ``"cuda"``...; default: where the model is.
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
    faces, found = _prepare_faces(items, m, res, align, on_no_face)
    dev = next(m.parameters()).device
    out = np.full((len(items), m.embedding_size), np.nan, np.float32)
    idx = np.flatnonzero(found)
    for s in range(0, len(idx), max(1, batch_size)):
        sel = idx[s : s + batch_size]
        x = preprocess(faces[sel], m.cfg).to(dev)
        e = m(x)
        if flip:
            e = e + m(x.flip(3))
        out[sel] = F.normalize(e.float(), dim=1).cpu().numpy()
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
