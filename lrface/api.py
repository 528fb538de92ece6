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


#: Detection is retried on the photo enlarged by these factors when no face is found at 1x:
#: MTCNN's smallest window is 12 px (``min_face_size=20`` by default), so faces of 10-20 px
#: are only found enlarged. Enlarging stops where the photo's long side would pass
#: :data:`MAX_UPSAMPLED_SIDE`.
DETECT_UPSAMPLE = (2.0, 4.0)
MAX_UPSAMPLED_SIDE = 2400
#: Faces found smaller than this (px) are detected again on the photo enlarged 2x, for
#: better landmarks (see :func:`_find_face`).
REFINE_BELOW = 24.0
#: An image at most this many pixels on its longer side in which no face is found is taken
#: as a tight face crop (``FaceInfo.upsampled == 0``), so a folder can mix photos and crops.
CROP_MAX_SIDE = 64
#: An image at most this many pixels on its longer side is a tight face crop: no detection.
TIGHT_CROP_MAX = 32


@dataclass(frozen=True)
class FaceInfo:
    """What :func:`embed` did with one input (``return_info=True``).

    Attributes:
        found: a face was found (or the input was taken as an aligned crop).
        model: the name of the model that embedded it (``None`` when not found).
        res: the face size the model was given: the face was degraded to ``res`` px (``None``:
            used at its own size, e.g. by the HR model).
        face_px: the face's measured size in source pixels (landmark spread for detected faces,
            the crop's shorter side with ``align=False``).
        quality: how much identity the face still carries: the pre-normalisation embedding
            norm divided by the model's median norm on its validation faces (``quality_ref``
            in the manifest; 1 = a typical training-quality face, lower = less trustworthy).
        upsampled: the detector found the face only on the photo enlarged this many times;
            0 when a small image (at most 32 px, or 64 px with no detectable face) was
            taken as a tight face crop.
    """

    found: bool
    model: Optional[str] = None
    res: Optional[int] = None
    face_px: float = float("nan")
    quality: float = float("nan")
    upsampled: float = 1.0


def _find_face(img: np.ndarray) -> Tuple[Optional[np.ndarray], float, float]:
    """Detect and align the largest face: ``(aligned 112 crop or None, face_px, upsample)``.

    Faces not found at 1x are searched on the photo enlarged 2x, then 4x; faces found at 1x
    but smaller than :data:`REFINE_BELOW` px are detected again at 2x for better landmarks.
    An image of at most :data:`TIGHT_CROP_MAX` px, or of at most :data:`CROP_MAX_SIDE` px
    without a detectable face, is returned as a tight crop, with upsample 0.
    """
    import cv2

    from lrface.face.pipeline import DEFAULT_PAD_RETRY, detect_and_align
    from lrface.models.zoo import face_size

    if max(img.shape[:2]) <= TIGHT_CROP_MAX:
        # A face that fills an image this small is a camera crop; the detector, run on it
        # enlarged 4x, finds it but places the landmarks worse than the crop already is
        # (on the demo's 12-16 px crops, detection lowered the genuine scores).
        return img, float(min(img.shape[:2])), 0.0
    got = detect_and_align(img, size=(112, 112), pad_retry=DEFAULT_PAD_RETRY)
    if got is not None:
        px = face_size(got.face.landmarks)
        if px >= REFINE_BELOW:
            return got.image, px, 1.0
        # O-Net's landmarks on a face this small are off by a pixel or more (tests/test_zoo.py
        # checks the measured size of 10 and 14 px faces): detect again on the photo enlarged
        # 2x, where they are placed better.
        first = (got.image, px, 1.0)
    else:
        first = None
    for f in DETECT_UPSAMPLE:
        if first is not None and f > DETECT_UPSAMPLE[0]:
            break
        if max(img.shape[:2]) * f > MAX_UPSAMPLED_SIDE:
            break
        big = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        got = detect_and_align(big, size=(112, 112))
        if got is not None:
            return got.image, face_size(got.face.landmarks) / f, f
    if first is not None:
        return first
    if max(img.shape[:2]) <= CROP_MAX_SIDE:
        # No face found in an image this small: it is a tight face crop from a camera (a
        # detector needs context around the face, which a crop does not have). Use it as it is.
        return img, float(min(img.shape[:2])), 0.0
    return None, float("nan"), 1.0


def _prepare(items: List[Any], align: Union[bool, Sequence[bool]],
             on_no_face: str) -> List[Tuple[Optional[np.ndarray], float, float]]:
    """Read each input and find its face: ``(face or None, face_px, upsample)`` per item.

    With ``align=True`` the face is detected and aligned onto the 112x112 template; with
    ``align=False`` the input is the aligned crop itself and its size is its shorter side.
    ``align`` may also give one flag per input.
    """
    flags = [bool(align)] * len(items) if isinstance(align, (bool, np.bool_)) else [bool(a) for a in align]
    if len(flags) != len(items):
        raise ValueError(f"align has {len(flags)} flags for {len(items)} inputs")
    out: List[Tuple[Optional[np.ndarray], float, float]] = []
    for i, item in enumerate(items):
        img = read_image(item)
        if not flags[i]:
            out.append((img, float(min(img.shape[:2])), 1.0))
            continue
        face, px, up = _find_face(img)
        if face is None and on_no_face == "raise":
            name = item if isinstance(item, (str, Path)) else f"image #{i}"
            raise NoFaceError(
                f"no face found in {name}; pass align=False for pre-aligned crops, "
                "or on_no_face='nan' to get a NaN row instead"
            )
        out.append((face, px, up))
    return out


def _plan(faces: List[Tuple[Optional[np.ndarray], float, float]], model: ModelLike, res: Optional[int],
          device: Optional[str]) -> Dict[Any, Tuple[FaceModel, Optional[int], List[int]]]:
    """Group the found faces by the model that will embed them: ``{key: (model, res, [i, ...])}``.

    ``model`` given: that model for every face (``res`` as given). ``model=None``: the shipped
    model chosen by :mod:`lrface.models.zoo`, by ``res`` when given, else per face by its size.
    """
    from lrface.models.zoo import HR_RES, pick, shipped_by_res

    groups: Dict[Any, Tuple[FaceModel, Optional[int], List[int]]] = {}
    if model is not None:
        m = _get_model(model, res, device)
        groups[0] = (m, res, [i for i, f in enumerate(faces) if f[0] is not None])
        return groups
    table = shipped_by_res()  # read the manifests once per call, not once per face
    for i, (face, px, _) in enumerate(faces):
        if face is None:
            continue
        choice = pick(float(res) if res is not None else px, table)
        if choice.model not in groups:
            m = _get_model(choice.model, None, device)
            # the face is degraded to the asked res (or the chosen model's), never for the HR model
            use = res if res is not None else (None if choice.res >= HR_RES else choice.res)
            groups[choice.model] = (m, use, [])
        groups[choice.model][2].append(i)
    return groups


def _model_name(m: FaceModel) -> str:
    entry = getattr(m, "weights", None)
    return entry.name if entry is not None else type(m).__name__


@torch.inference_mode()
def embed(
    images: Any,
    model: ModelLike = None,
    res: Optional[int] = None,
    align: Union[bool, Sequence[bool]] = True,
    batch_size: int = 256,
    device: Optional[str] = None,
    flip: bool = False,
    on_no_face: str = "raise",
    return_info: bool = False,
) -> Any:
    """Embed faces: ``(N, D)`` float32, unit L2 norm.

    With no ``model`` and no ``res``, each face goes to the shipped model that fits its real
    size (measured from the landmarks, or the crop's size with ``align=False``): the student
    for 8, 12, 16, 20, 24 or 32 px, or the HR model for faces of 40 px and more (see
    :mod:`lrface.models.zoo`). All shipped models share one embedding space, so rows from
    different models compare directly. ``return_info=True`` tells which model ran.

    Args:
        images: a path, bytes, PIL image, HxWx3 RGB array or tensor, or a list / 4-D batch of them.
        model: a model name, a ``.pt`` path with a manifest entry, a loaded model, or ``None``
            (the shipped model chosen by face size, or by ``res``).
        res: treat every face as this many pixels across: degrade it to ``res`` (HR models see
            it upsampled back: the naive baseline) and, with ``model=None``, use the shipped
            model for that size.
        align: detect and align faces (MTCNN + ArcFace template; faces of 12-20 px are found
            on the photo enlarged 2x or 4x; an image of at most 32 px, or of at most 64 px
            with no detectable face, is taken as a tight face crop). ``False``: inputs are
            already aligned or tight face crops (any size; resized to the model's input). A
            list gives one flag per input (an ID photo to detect, a camera crop to take as
            it is).
        batch_size: model batch size.
        device: where to load a model given by name or path (default ``"cpu"``); a model
            object is used where it is (a different ``device`` is an error: embed() never
            moves a caller's model).
        flip: add the embedding of the mirrored face before normalising (flip-TTA).
        on_no_face: ``"raise"`` (:class:`lrface.NoFaceError`, default) or ``"nan"`` (that
            row is all NaN).
        return_info: also return one :class:`FaceInfo` per input (model used, face size,
            quality score).

    Returns:
        ``np.ndarray`` of shape (N, D), float32; one row per input (N = 1 for one image);
        with ``return_info=True``, ``(embeddings, [FaceInfo, ...])``.

    Raises:
        lrface.ImageReadError: an input cannot be read.
        lrface.NoFaceError: no face found and ``on_no_face="raise"``.

    Example:
        >>> e, info = lrface.embed("camera_crop_16px.png", return_info=True)  # doctest: +SKIP
        >>> info[0].model, info[0].face_px, round(info[0].quality, 2)       # doctest: +SKIP
        ('lrface-s16', 16.0, 0.95)
    """
    if on_no_face not in ("raise", "nan"):
        raise ValueError(f"on_no_face must be 'raise' or 'nan', got {on_no_face!r}")
    if model is not None:
        _get_model(model, res, device)  # fail on a bad model before reading any image
    items, _ = _as_list(images)
    faces = _prepare(items, align, on_no_face)
    infos: List[FaceInfo] = [FaceInfo(False, face_px=px, upsampled=up) for _, px, up in faces]
    groups = _plan(faces, model, res, device)
    dim = next(iter(groups.values()))[0].embedding_size if groups else _embedding_size(model, res, device)
    out = np.full((len(items), dim), np.nan, np.float32)
    for m, use_res, idx in groups.values():
        if not idx:
            continue
        if m.embedding_size != dim:
            raise ValueError(f"models of different embedding sizes in one call: {m.embedding_size} vs {dim}")
        recipe = _lr_recipe(m)
        lrs = [lr_faces(faces[i][0], use_res, recipe)[0] for i in idx]
        # Each face goes through the same view as in lrface-bench (faces can differ in size
        # here, so views are made one by one, then run in the same batches).
        views = np.concatenate([model_view(x, m) for x in lrs])
        e = run_batches(m, views, batch_size).astype(np.float64)
        if flip:
            flipped = np.concatenate([model_view(np.ascontiguousarray(x[:, ::-1]), m) for x in lrs])
            e = (e + run_batches(m, flipped, batch_size)) / 2
        out[idx] = l2_normalize(e)
        entry = getattr(m, "weights", None)
        ref = float((entry.meta.get("quality_ref") if entry is not None else None) or 1.0)
        q = np.linalg.norm(e, axis=1) / ref
        name = _model_name(m)
        for k, i in enumerate(idx):
            r = use_res if use_res is not None and faces[i][0].shape[0] > use_res else None
            infos[i] = FaceInfo(True, name, r, faces[i][1], float(q[k]), faces[i][2])
            log.info("face %d: %.1f px -> %s (res %s), quality %.2f", i, faces[i][1], name, r, q[k])
    return (out, infos) if return_info else out


def _embedding_size(model: ModelLike, res: Optional[int], device: Optional[str]) -> int:
    """Embedding size when no face was found at all (rows stay NaN)."""
    if model is not None:
        return _get_model(model, res, device).embedding_size
    from lrface.models.zoo import pick

    try:
        return _get_model(pick(float(res or 16)).model, None, device).embedding_size
    except WeightsError:  # no shipped model at all: the size of the teacher space
        return 128


@dataclass(frozen=True)
class Verification:
    """Result of :func:`verify`.

    Attributes:
        score: cosine similarity of the two faces' embeddings.
        same: the decision at ``threshold`` (``None`` when there is no threshold).
        threshold: the threshold used; ``far`` is the false accept rate it was calibrated for
            (``None`` for a threshold the caller gave).
        models: the model that embedded each face; ``quality``: each face's quality score
            (see :class:`FaceInfo`); ``faces``: both :class:`FaceInfo` records.
    """

    score: float
    same: Optional[bool]
    threshold: Optional[float]
    far: Optional[float] = None
    models: Tuple[Optional[str], Optional[str]] = (None, None)
    quality: Tuple[float, float] = (float("nan"), float("nan"))
    faces: Tuple[Any, ...] = ()

    def __float__(self) -> float:
        return self.score


#: The false accept rates every shipped model has a calibrated threshold for.
FARS = (1e-2, 1e-3)


def pair_threshold(a: Any, b: Any, far: float = 1e-3) -> Optional[float]:
    """The calibrated threshold for a pair of faces embedded by models ``a`` and ``b``.

    Each shipped model's manifest holds ``thresholds`` (both faces by this model) and
    ``thresholds_hr`` (this model's face against the HR model's), per FAR, calibrated on
    held-out CelebA identities (never on LFW View 2). For two different students the lower
    resolution's threshold is used, since the worse face sets the score distribution.
    Models without calibration give ``None`` (legacy single ``threshold`` when present).
    """
    ea, eb = (getattr(x, "weights", None) if isinstance(x, torch.nn.Module) else x for x in (a, b))
    if ea is None or eb is None:
        return None
    from lrface.eval.metrics import rate_key

    key = rate_key(far)
    hr_a, hr_b = ea.meta.get("role") == "assistant", eb.meta.get("role") == "assistant"
    if ea.name == eb.name or (hr_a and hr_b):
        table = ea.meta.get("thresholds") or {}
        t = table.get(key)
        return float(t) if t is not None else ea.threshold
    if hr_a or hr_b:
        lr = eb if hr_a else ea
        t = (lr.meta.get("thresholds_hr") or {}).get(key)
        return None if t is None else float(t)
    low = min((ea, eb), key=lambda e: int((e.meta.get("default_for_res") or [999])[0]))
    t = (low.meta.get("thresholds") or {}).get(key)
    return None if t is None else float(t)


def verify(a: Any, b: Any, model: ModelLike = None, res: Optional[int] = None,
           threshold: Optional[float] = None, align: Union[bool, Sequence[bool]] = True, flip: bool = True,
           far: float = 1e-3) -> Verification:
    """Are ``a`` and ``b`` the same person?

    Each face is embedded as :func:`embed` does (with no ``model``: the shipped model that
    fits its size, so a 16 px camera crop and a 112 px ID photo each get their own model, in
    one embedding space). The decision uses ``threshold``, or the threshold calibrated for
    false accept rate ``far`` (``1e-2`` or ``1e-3``) for this pair of models, measured with
    flip-TTA (hence ``flip=True`` by default). Without either, ``same`` is ``None``.

    ``align`` is one flag for both inputs or a pair, e.g. ``(True, False)`` for an ID photo
    and a tight camera crop.

    Example:
        >>> r = verify("id_photo.jpg", "camera_crop.png", align=(True, False))   # doctest: +SKIP
        >>> r.score, r.same, r.threshold, r.models
    """
    if far not in FARS and threshold is None:
        raise ValueError(f"far must be one of {', '.join(map(str, FARS))} (calibrated), got {far}")
    e, info = embed([a, b], model=model, res=res, align=align, flip=flip, return_info=True)
    score = float(np.dot(e[0], e[1]))
    t, f = threshold, None
    if t is None:
        if model is not None:
            m = _get_model(model, res, None)
            t = pair_threshold(m, m, far)
        else:
            from lrface.models.weights import available_weights

            w = available_weights()
            t = pair_threshold(w.get(info[0].model), w.get(info[1].model), far)
        f = far if t is not None else None
    return Verification(score, None if t is None else bool(score >= t), t, f,
                        (info[0].model, info[1].model), (info[0].quality, info[1].quality), tuple(info))


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
        self.models: List[str] = []  # the model that embedded each entry ("" when unknown)
        self._index = None

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, embeddings: np.ndarray, labels: Sequence[Any], models: Optional[Sequence[str]] = None) -> None:
        """Enrol embeddings (N, D) (normalised here) with one label each (and optionally the
        name of the model that embedded each, used to pick open-set thresholds)."""
        e = np.asarray(embeddings, np.float32)
        if e.ndim != 2 or len(e) != len(labels):
            raise ValueError(f"need (N, D) embeddings and N labels, got {e.shape} and {len(labels)}")
        if len(self) and e.shape[1] != self._emb.shape[1]:
            raise ValueError(f"embedding size {e.shape[1]} differs from the gallery's {self._emb.shape[1]}")
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        self._emb = e if not len(self) else np.concatenate([self._emb, e])
        self.labels.extend(labels)
        self.models.extend([str(m or "") for m in models] if models is not None else [""] * len(labels))
        self._index = None

    def enrol(self, images: Any, labels: Sequence[Any], **embed_kw: Any) -> None:
        """Embed ``images`` with :func:`embed` and add them (faces not found are skipped
        when ``on_no_face="nan"`` is passed)."""
        e, info = embed(images, return_info=True, **embed_kw)
        ok = ~np.isnan(e).any(axis=1)
        self.add(e[ok], [x for x, k in zip(labels, ok) if k], [i.model for i, k in zip(info, ok) if k])

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
        np.savez(path, embeddings=self._emb, labels=np.array([str(x) for x in self.labels]),
                 models=np.array(self.models))

    @classmethod
    def load(cls, path: Union[str, Path], backend: str = "numpy") -> "Gallery":
        data = np.load(path, allow_pickle=False)
        g = cls(backend)
        if "embeddings" not in data or "labels" not in data:
            raise ValueError(f"{path} is not a gallery file (needs 'embeddings' and 'labels'; lrface-embed's "
                             ".npz has 'paths': build a gallery from a folder G/<identity>/<image> instead)")
        g.add(data["embeddings"], [str(x) for x in data["labels"]],
              list(data["models"]) if "models" in data else None)
        return g
