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

from lrface.decisions import FARS as _FARS
from lrface.decisions import pair_threshold as _pair_threshold
from lrface.errors import ImageReadError, NoFaceError, WeightsError
from lrface.eval.protocols.base import l2_normalize
from lrface.face.degrade import Degradation, get_preset
from lrface.face.io import read_image
from lrface.models.base import FaceModel
from lrface.models.inputs import inference_copy, lr_faces, model_view, photo_chip, run_views
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
    from lrface.settings import user_weights_dir

    key = (str(model), res if model is None else None, dev, str(user_weights_dir() or ""))
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
        error: why there is no embedding (``"unreadable: ..."``, ``"no face found"``), with
            ``on_no_face="nan"``; ``None`` when the face was embedded.
    """

    found: bool
    model: Optional[str] = None
    res: Optional[int] = None
    face_px: float = float("nan")
    quality: float = float("nan")
    upsampled: float = 1.0
    error: Optional[str] = None


#: What :func:`_find_face` returns: ``(aligned 112 crop or None, face_px, upsample, source)``;
#: ``source`` is ``(photo, landmarks in it)`` for a detected face (so a model with its own face
#: geometry can be given a crop cut from the photo itself), ``None`` for a crop taken as it is.
Found = Tuple[Optional[np.ndarray], float, float, Optional[Tuple[np.ndarray, np.ndarray]]]
#: What :func:`_prepare` returns per input: :data:`Found` and why there is no face (or ``None``).
Prepared = Tuple[Optional[np.ndarray], float, float, Optional[Tuple[np.ndarray, np.ndarray]], Optional[str]]


def _find_face(img: np.ndarray) -> Found:
    """Detect and align the largest face: ``(aligned 112 crop or None, face_px, upsample, source)``.

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
        return img, float(min(img.shape[:2])), 0.0, None
    got = detect_and_align(img, size=(112, 112), pad_retry=DEFAULT_PAD_RETRY)
    if got is not None:
        px = face_size(got.face.landmarks)
        src = (img, np.asarray(got.face.landmarks, np.float64))
        if px >= REFINE_BELOW:
            return got.image, px, 1.0, src
        # O-Net's landmarks on a face this small are off by a pixel or more (tests/test_zoo.py
        # checks the measured size of 10 and 14 px faces): detect again on the photo enlarged
        # 2x, where they are placed better.
        first: Optional[Found] = (got.image, px, 1.0, src)
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
            lm = np.asarray(got.face.landmarks, np.float64)
            return got.image, face_size(lm) / f, f, (big, lm)
    if first is not None:
        return first
    if max(img.shape[:2]) <= CROP_MAX_SIDE:
        # No face found in an image this small: it is a tight face crop from a camera (a
        # detector needs context around the face, which a crop does not have). Use it as it is.
        return img, float(min(img.shape[:2])), 0.0, None
    return None, float("nan"), 1.0, None


#: Inputs taken as face crops (``align=False``, or small images without detection) of
#: :data:`CHECK_MIN_SIDE` to this many pixels on their longer side go through the face-ness
#: check (:mod:`lrface.face.faceness`): a uniform patch, noise or background is not a face.
CHECK_MAX_SIDE = 64
#: Below this size nothing can tell a face from a patch (LFW faces at 6 px pass the check 78% of
#: the time, at 8 px 99%): smaller crops are not checked.
CHECK_MIN_SIDE = 8


def _prepare(items: List[Any], align: Union[bool, Sequence[bool]], on_no_face: str,
             check_face: bool = True) -> List[Prepared]:
    """Read each input and find its face: ``(face or None, face_px, upsample, source, error)``
    per item (see :data:`Found`; ``error`` says why there is no face).

    With ``align=True`` the face is detected and aligned onto the 112x112 template; with
    ``align=False`` the input is the aligned crop itself and its size is its shorter side.
    ``align`` may also give one flag per input. Small crops taken as they are must pass the
    face-ness check (``check_face``).
    """
    flags = [bool(align)] * len(items) if isinstance(align, (bool, np.bool_)) else [bool(a) for a in align]
    if len(flags) != len(items):
        raise ValueError(f"align has {len(flags)} flags for {len(items)} inputs")
    out: List[Prepared] = []
    for i, item in enumerate(items):
        try:
            img = read_image(item)
        except ImageReadError as e:
            if on_no_face == "raise":
                raise
            # one unreadable input costs its own row only (FaceInfo.error says why)
            out.append((None, float("nan"), 1.0, None, f"unreadable: {e}"))
            continue
        if not flags[i]:
            out.append((img, float(min(img.shape[:2])), 1.0, None, None))
            continue
        found = _find_face(img)
        face = found[0]
        if face is None and on_no_face == "raise":
            raise NoFaceError(
                f"no face found in {_name(item, i)}; pass align=False for pre-aligned crops, "
                "or on_no_face='nan' to get a NaN row instead"
            )
        out.append((*found, None if face is not None else "no face found"))
    if check_face:
        out = _reject_nonfaces(items, out, on_no_face)
    return out


def _name(item: Any, i: int) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"image #{i}"


def _reject_nonfaces(items: List[Any], found: List[Prepared], on_no_face: str) -> List[Prepared]:
    """Small inputs taken as face crops (no detection confirmed them) that the face-ness check
    scores below its threshold become "not a face" (``on_no_face`` applies)."""
    from lrface.face.faceness import FACENESS_THRESHOLD, faceness

    idx = [i for i, f in enumerate(found)
           if f[0] is not None and f[3] is None and CHECK_MIN_SIDE <= max(f[0].shape[:2]) <= CHECK_MAX_SIDE]
    if not idx:
        return found
    scores = faceness([found[i][0] for i in idx])
    out = list(found)
    for i, sc in zip(idx, scores):
        if sc >= FACENESS_THRESHOLD:
            continue
        why = f"not a face (face-ness {sc:.2f} < {FACENESS_THRESHOLD:.2f})"
        if on_no_face == "raise":
            raise NoFaceError(f"{_name(items[i], i)}: {why}; pass check_face=False to embed it anyway, "
                              "or on_no_face='nan' to get a NaN row instead")
        log.info("input %d: %s", i, why)
        out[i] = (None, found[i][1], found[i][2], None, why)
    return out


def _plan(faces: List[Prepared], model: ModelLike, res: Optional[int],
          device: Optional[str], prefer: str = "accuracy") -> Dict[Any, Tuple[FaceModel, List[Tuple[int, Optional[int]]]]]:
    """Group the found faces by the model that will embed them: ``{key: (model, [(i, size), ...])}``
    where ``size`` is the LR size face ``i`` is degraded to (``None``: used as it is).

    ``model`` given: that model for every face (``res`` as given). ``model=None``: the shipped
    model chosen by :mod:`lrface.models.zoo` (``prefer``: ``"accuracy"`` or ``"speed"``), by
    ``res`` when given, else per face by its size.
    """
    from lrface.models.zoo import HR_RES, lr_size, pick, shipped_by_res

    groups: Dict[Any, Tuple[FaceModel, List[Tuple[int, Optional[int]]]]] = {}
    if model is not None:
        m = _get_model(model, res, device)
        groups[0] = (m, [(i, res) for i, f in enumerate(faces) if f[0] is not None])
        return groups
    table = shipped_by_res(prefer)  # read the manifests once per call, not once per face
    for i, found in enumerate(faces):
        face, px = found[0], found[1]
        if face is None:
            continue
        size = float(res) if res is not None else px
        choice = pick(size, table)
        if choice.model not in groups:
            groups[choice.model] = (_get_model(choice.model, None, device), [])
        # the face is degraded to the asked res, or to the size the chosen LR model takes it at;
        # never for the HR model
        if res is not None:
            use: Optional[int] = int(res)
        else:
            use = None if choice.res >= HR_RES else lr_size(table[choice.res], px, choice.res)
        groups[choice.model][1].append((i, use))
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
    flip: bool = True,
    on_no_face: str = "raise",
    return_info: bool = False,
    prefer: str = "accuracy",
    check_face: bool = True,
) -> Any:
    """Embed faces: ``(N, D)`` float32, unit L2 norm.

    With no ``model`` and no ``res``, each face goes to the shipped model that fits its real
    size (measured from the landmarks, or the crop's size with ``align=False``): the HR model
    (``lrface-hr``) for faces of 32 px and more, the LR model (``lrface-lr``, adapted to faces
    of 8 to 32 px) below that, or with ``prefer="speed"`` the compact student for the size
    (see :mod:`lrface.models.zoo`). All shipped models share one embedding space, so rows from
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
        flip: add the embedding of the mirrored face before normalising (flip-TTA; on by
            default, as in :func:`verify` and in the calibration of the shipped thresholds).
        on_no_face: ``"raise"`` (default: :class:`lrface.NoFaceError`, or
            :class:`lrface.ImageReadError` for an input that cannot be read) or ``"nan"``: that
            row is all NaN and its :class:`FaceInfo` says why (``error``); the rest of the batch
            is embedded as usual.
        return_info: also return one :class:`FaceInfo` per input (model used, face size,
            quality score).
        prefer: with ``model=None``, ``"accuracy"`` (default: ``lrface-lr`` for small faces)
            or ``"speed"`` (the compact student for the face's size, many times faster).
        check_face: inputs taken as face crops (``align=False``, or images of at most 32 px)
            of 8 to :data:`CHECK_MAX_SIDE` px must pass the face-ness check
            (:mod:`lrface.face.faceness`), else they count as "no face" (``on_no_face``
            applies; ``FaceInfo.error`` says "not a face"). ``False`` trusts every crop.

    Returns:
        ``np.ndarray`` of shape (N, D), float32; one row per input (N = 1 for one image);
        with ``return_info=True``, ``(embeddings, [FaceInfo, ...])``.

    Raises:
        lrface.ImageReadError: an input cannot be read and ``on_no_face="raise"``.
        lrface.NoFaceError: no face found and ``on_no_face="raise"``.

    Example:
        >>> e, info = lrface.embed("camera_crop_16px.png", return_info=True)  # doctest: +SKIP
        >>> info[0].model, info[0].face_px, round(info[0].quality, 2)       # doctest: +SKIP
        ('lrface-lr', 16.0, 0.95)
    """
    if on_no_face not in ("raise", "nan"):
        raise ValueError(f"on_no_face must be 'raise' or 'nan', got {on_no_face!r}")
    from lrface.models.zoo import PREFERENCES

    if prefer not in PREFERENCES:
        raise ValueError(f"prefer must be one of {', '.join(map(repr, PREFERENCES))}, got {prefer!r}")
    if model is not None:
        _get_model(model, res, device)  # fail on a bad model before reading any image
    items, _ = _as_list(images)
    faces = _prepare(items, align, on_no_face, check_face)
    infos: List[FaceInfo] = [FaceInfo(False, face_px=f[1], upsampled=f[2], error=f[4]) for f in faces]
    groups = _plan(faces, model, res, device, prefer)
    dim = next(iter(groups.values()))[0].embedding_size if groups else _embedding_size(model, res, device)
    out = np.full((len(items), dim), np.nan, np.float32)
    for m, members in groups.values():
        if not members:
            continue
        if m.embedding_size != dim:
            raise ValueError(f"models of different embedding sizes in one call: {m.embedding_size} vs {dim}")
        idx = [i for i, _ in members]
        recipe = _lr_recipe(m)
        lrs = [lr_faces(faces[i][0], use, recipe)[0] for i, use in members]
        # Each face goes through the same view as in lrface-bench (faces can differ in size
        # here, so views are made one by one, then run in the same batches). A full-resolution
        # face for a model with dlib's chip geometry is cut from the photo itself: the chip
        # reaches below the 112 crop.
        from_photo = [use is None and m.cfg.template == "dlib_chip" and faces[i][3] is not None for i, use in members]
        chips = [photo_chip(*faces[i][3], m.cfg.input_size) if p else None for (i, _), p in zip(members, from_photo)]
        views = np.concatenate([c if c is not None else model_view(x, m) for c, x in zip(chips, lrs)])
        e = run_views(m, views, batch_size).astype(np.float64)
        if flip:  # the mirrored face through the same view (the chip cut from the photo: mirrored)
            flipped = np.concatenate([np.ascontiguousarray(c[:, :, ::-1]) if c is not None
                                      else model_view(np.ascontiguousarray(x[:, ::-1]), m) for c, x in zip(chips, lrs)])
            e = (e + run_views(m, flipped, batch_size)) / 2
        out[idx] = l2_normalize(e)
        entry = getattr(m, "weights", None)
        name = _model_name(m)
        for k, (i, use) in enumerate(members):
            r = use if use is not None and faces[i][0].shape[0] > use else None
            q = float(np.linalg.norm(e[k])) / _quality_ref(entry, r)
            infos[i] = FaceInfo(True, name, r, faces[i][1], q, faces[i][2])
            log.info("face %d: %.1f px -> %s (res %s), quality %.2f", i, faces[i][1], name, r, q)
    return (out, infos) if return_info else out


def _quality_ref(entry: Any, res: Optional[int]) -> float:
    """The model's median raw-embedding norm on validation faces (per face size when the
    manifest has ``quality_ref_by_res``): the quality score's denominator."""
    if entry is None:
        return 1.0
    by_res = entry.meta.get("quality_ref_by_res")
    if by_res:
        from lrface.decisions import _at_res

        v = _at_res({k: {"q": x} for k, x in by_res.items()}, res)
        if v is not None:
            return float(v["q"])
    return float(entry.meta.get("quality_ref") or 1.0)


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
        score_far: the false accept rate this score corresponds to for this pair of models and
            face sizes (the share of impostor pairs scoring as high in the calibration; see
            :func:`lrface.decisions.pair_far`), ``None`` without calibration.
    """

    score: float
    same: Optional[bool]
    threshold: Optional[float]
    far: Optional[float] = None
    models: Tuple[Optional[str], Optional[str]] = (None, None)
    quality: Tuple[float, float] = (float("nan"), float("nan"))
    faces: Tuple[Any, ...] = ()
    score_far: Optional[float] = None

    def __float__(self) -> float:
        return self.score


#: The false accept rates every shipped model has calibrated thresholds for.
FARS = _FARS


def pair_threshold(a: Any, b: Any, far: float = 1e-3, res_a: Optional[int] = None,
                   res_b: Optional[int] = None) -> Optional[float]:
    """The calibrated threshold for a pair of faces embedded by models ``a`` and ``b`` (at
    ``res_a`` / ``res_b`` px when known); see :func:`lrface.decisions.pair_threshold`."""
    return _pair_threshold(a, b, far, res_a, res_b)


def verify(a: Any, b: Any, model: ModelLike = None, res: Optional[int] = None,
           threshold: Optional[float] = None, align: Union[bool, Sequence[bool]] = True, flip: bool = True,
           far: float = 1e-3, prefer: str = "accuracy") -> Verification:
    """Are ``a`` and ``b`` the same person?

    Each face is embedded as :func:`embed` does (with no ``model``: the shipped model that
    fits its size, so a 16 px camera crop and a 112 px ID photo each get their own model, in
    one embedding space). The decision uses ``threshold``, or the threshold calibrated for
    false accept rate ``far`` (``1e-2``, ``1e-3`` or ``1e-4``) for this pair of models and face
    sizes, measured with flip-TTA (hence ``flip=True`` by default). Without either, ``same``
    is ``None``. ``prefer`` as in :func:`embed`.

    ``align`` is one flag for both inputs or a pair, e.g. ``(True, False)`` for an ID photo
    and a tight camera crop.

    Example:
        >>> r = verify("id_photo.jpg", "camera_crop.png", align=(True, False))   # doctest: +SKIP
        >>> r.score, r.same, r.threshold, r.models
    """
    if far not in FARS and threshold is None:
        raise ValueError(f"far must be one of {', '.join(map(str, FARS))} (calibrated), got {far}")
    e, info = embed([a, b], model=model, res=res, align=align, flip=flip, return_info=True, prefer=prefer)
    score = float(np.dot(e[0], e[1]))
    t, f = threshold, None
    from lrface.decisions import pair_far
    from lrface.models.weights import available_weights

    sizes = (info[0].res, info[1].res)
    if model is not None:
        m = _get_model(model, res, None)
        pair = (m, m)
    else:
        w = available_weights()
        pair = (w.get(info[0].model), w.get(info[1].model))
    if t is None:
        t = pair_threshold(*pair, far, *sizes)
        f = far if t is not None else None
    return Verification(score, None if t is None else bool(score >= t), t, f,
                        (info[0].model, info[1].model), (info[0].quality, info[1].quality), tuple(info),
                        pair_far(*pair, score, *sizes))


from lrface.gallery import Gallery, Identification  # noqa: E402,F401  (re-exported: part of the API)
