"""What a model sees for a face of ``res`` pixels: the ONE low-resolution path.

``lrface.embed``, ``lrface-bench`` and the trainer all turn aligned faces into a model's
input tensor through :func:`model_input`; nothing else resizes faces for a model. That is
what makes a published figure describe the model a user runs.

The path, for aligned RGB uint8 faces on the ArcFace 112x112 template:

1. **Degrade** (only when ``res`` is given and the faces are larger than ``res``):
   :func:`lrface.face.degrade.degrade` to ``res x res`` with the given recipe (default the
   ``area`` preset: exact box averaging, ``cv2.INTER_AREA``), seeded per face. Faces already
   at ``res`` or smaller are taken as they are: they are LR faces.
2. **View** (:func:`model_view`): bring the faces to the model's input size.

   * enlarging always uses :data:`UP`, bicubic with ``a = -0.75``, unstretched kernel,
     replicated border (the ``cv2.INTER_CUBIC`` convention, the one of the naive-baseline
     figures in docs/results.md);
   * shrinking always uses :data:`DOWN`, exact area averaging;
   * 112x96 models (SphereFace/CASIA crop) get columns 8:104 of the 112x112 frame, after the
     frame is brought to 112x112;
   * ``dlib_chip`` models (dlib's face ResNet and models adapted from it) get dlib's chip:
     a full-resolution face is cut at dlib's own five landmarks (:func:`dlib_chip_from_frames`),
     an LR face by one fixed similarity from the ArcFace frame (:func:`chip_view`; the chip's
     bottom rows lie below the frame and are mid-gray).

   So a student sees faces at its native size (a 16 px student given 112 px faces sees them
   area-shrunk to 16), and an HR model (teacher, assistant) sees LR faces upsampled back to
   its input size: the naive "HR model on upsampled LR" baseline.
3. **Normalise** (:func:`lrface.models.base.preprocess`): channel order, mean and std from
   the model's config, float NCHW.

Flip-TTA callers flip the LR faces (step 1's output) and view them again, so a flipped
face goes through exactly the same resampling.

Example:
    >>> import numpy as np
    >>> from lrface.models.base import ModelCfg
    >>> hr = np.full((2, 112, 112, 3), 128, np.uint8)
    >>> model_input(hr, ModelCfg(), res=16).shape            # an HR model: back to 112
    torch.Size([2, 3, 112, 112])
    >>> model_input(hr, ModelCfg(input_size=(16, 16), role="student")).shape
    torch.Size([2, 3, 16, 16])
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from lrface.face.degrade import Degradation, degrade
from lrface.models.base import FaceModel, ModelCfg, preprocess

#: The one kernel for enlarging faces to a model's input (``cv2.INTER_CUBIC`` convention).
UP = Degradation(kernel="bicubic", antialias=False)
#: The one kernel for shrinking faces to a model's input (exact area, ``cv2.INTER_AREA``).
DOWN = Degradation(kernel="area")

#: A short description of this module's resampling rules, part of every embedding-cache
#: key: change it whenever a rule above changes, so cached embeddings are not reused.
VIEW_RECIPE = ("view-v3:up=bicubic-a0.75-noaa;down=area;112x96=cols8:104;dlib_chip=lr:warp-cubic-fill127,"
               "hr>=96:dlib5-landmarks-replicate")

CfgLike = Union[ModelCfg, FaceModel]
RecipeLike = Union[str, Degradation]


def _cfg(model: CfgLike) -> ModelCfg:
    return model if isinstance(model, ModelCfg) else model.cfg


def _check_faces(faces: np.ndarray) -> np.ndarray:
    faces = np.asarray(faces)
    if faces.ndim == 3:
        faces = faces[None]
    if faces.ndim != 4 or faces.shape[-1] != 3 or faces.dtype != np.uint8:
        raise ValueError(f"faces must be uint8 RGB (N, H, W, 3) or (H, W, 3), got {faces.dtype} {faces.shape}")
    return faces


def resize(faces: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Resample uint8 NHWC faces to ``size`` (h, w) with :data:`DOWN` or :data:`UP`.

    Enlarging uses bicubic, shrinking uses area; a face enlarged along one axis and shrunk
    along the other (not a case aligned faces meet) is shrunk first, then enlarged.
    """
    h, w = int(size[0]), int(size[1])
    fh, fw = faces.shape[1:3]
    if (fh, fw) == (h, w):
        return faces
    if fh >= h and fw >= w:
        return degrade(faces, (h, w), DOWN)
    if fh <= h and fw <= w:
        return degrade(faces, (h, w), UP)
    faces = degrade(faces, (min(fh, h), min(fw, w)), DOWN)
    return degrade(faces, (h, w), UP)


#: What fills the part of dlib's chip that lies outside an ArcFace 112 crop (its bottom 10
#: rows) when the chip is cut by the fixed map (low-resolution faces): mid-gray. Chosen on LFW
#: View 1 (``benchmarks/chip_border.py``, ``benchmarks/results/chip_border_view1.json``) over
#: repeating or mirroring the crop's edge.
CHIP_FILL = 127
#: Faces whose frame is at least this many pixels across are full-resolution faces: their chip
#: is cut at dlib's own five landmarks (:func:`dlib_chip_from_frames`), which on LFW View 1 beat
#: the fixed map (``benchmarks/chip_border.py``). Smaller frames are low-resolution faces, where
#: no landmark model is reliable: they keep the fixed map that the LR models were trained with.
REFINE_MIN_SIDE = 96
#: dlib's face box in the ArcFace 112 frame (left, top, right, bottom): where its HOG detector
#: puts it, on average, on aligned training faces (``benchmarks/dlib_chip_geometry.py``), the box
#: the landmark model starts from.
DLIB_BOX_112 = (11.0, 27.0, 97.0, 113.0)


def chip_view(faces: np.ndarray, size: Sequence[int], geometry: str = "dlib_chip") -> np.ndarray:
    """ArcFace-frame faces of any size -> ``geometry`` at ``size``. Full-resolution frames
    (at least :data:`REFINE_MIN_SIDE` px) are cut at dlib's landmarks
    (:func:`dlib_chip_from_frames`); smaller (LR) frames by one affine warp per face
    (:func:`lrface.face.align.frame_to_geometry`), bicubic as :data:`UP` (the ``cv2.INTER_CUBIC``
    kernel), :data:`CHIP_FILL` outside the frame."""
    import cv2

    from lrface.face.align import frame_to_geometry

    faces = _check_faces(faces)
    h, w = int(size[0]), int(size[1])
    if geometry == "dlib_chip" and min(faces.shape[1:3]) >= REFINE_MIN_SIDE:
        return dlib_chip_from_frames(faces, (h, w))
    m = frame_to_geometry(geometry, faces.shape[1:3], (h, w))
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    if scale < 1.0:  # a frame larger than the chip's scale: area down first, then warp up
        side = max(1, int(round(faces.shape[1] * scale)))
        faces = degrade(faces, (side, side), DOWN)
        m = frame_to_geometry(geometry, faces.shape[1:3], (h, w))
    out = np.empty((len(faces), h, w, 3), np.uint8)
    for i, f in enumerate(faces):
        out[i] = cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=(CHIP_FILL,) * 3)
    return out


def _chips_at_landmarks(images: Sequence[np.ndarray], dlib5: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """dlib's chips (``get_face_chip_details``: its 5-point template, padding 0.25) of
    ``images`` at their landmarks ``dlib5`` ``(N, 5, 2)``; bilinear as dlib samples, the image's
    edge repeated outside it, a face larger than the chip area-shrunk first (no aliasing)."""
    import cv2

    from lrface.face.align import dlib_chip_points, similarity_transform

    h, w = size
    dst = dlib_chip_points(w)
    out = np.empty((len(images), h, w, 3), np.uint8)
    for i, (img, lm) in enumerate(zip(images, dlib5)):
        m = similarity_transform(lm, dst)
        scale = float(np.hypot(m[0, 0], m[1, 0]))
        if scale < 0.5:  # shrink the source first so the warp samples at about its own scale
            f = 2 * scale
            small = cv2.resize(img, (max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f))),
                               interpolation=cv2.INTER_AREA)
            sx, sy = small.shape[1] / img.shape[1], small.shape[0] / img.shape[0]
            # pixel centres: x in the source = (x' + 0.5) / sx - 0.5 in the shrunk one
            m = m @ np.array([[1 / sx, 0, 0.5 / sx - 0.5], [0, 1 / sy, 0.5 / sy - 0.5], [0, 0, 1]])
            img = small
        out[i] = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def dlib_chip_from_frames(faces: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Full-resolution faces on the ArcFace frame -> dlib's chips at ``size``, cut at the
    landmarks dlib's own 5-point model (:mod:`lrface.face.dlib_landmarks`) finds in the box
    :data:`DLIB_BOX_112` (the frame padded by half its side, edge repeated, for context)."""
    import cv2

    from lrface.face.dlib_landmarks import landmark_model

    faces = _check_faces(faces)
    side = faces.shape[1]
    pad = side // 2
    big = np.stack([cv2.copyMakeBorder(f, pad, pad, pad, pad, cv2.BORDER_REPLICATE) for f in faces])
    box = np.asarray(DLIB_BOX_112) * side / 112.0 + pad
    lm = landmark_model().batch(big, np.tile(box, (len(faces), 1)))
    return _chips_at_landmarks(list(big), lm, (int(size[0]), int(size[1])))


def photo_chip(image: np.ndarray, landmarks: np.ndarray, size: Sequence[int], geometry: str = "dlib_chip") -> np.ndarray:
    """A face cut from its photo straight into dlib's chip at ``size``, ``(1, h, w, 3)`` uint8:
    lrface's five MTCNN landmarks place the face (its ArcFace alignment, with a margin of half
    the frame for context), dlib's 5-point model finds dlib's own landmarks there, and the chip
    is cut from the photo itself at those (so it reaches beyond the ArcFace crop)."""
    import cv2

    from lrface.face.align import estimate_alignment
    from lrface.face.dlib_landmarks import landmark_model

    if geometry != "dlib_chip":
        raise ValueError(f"photo_chip cuts dlib's chip only, not {geometry!r}")
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    m = np.vstack([estimate_alignment(lm, 112), [0, 0, 1]])
    m[:2, 2] += 56  # the 112 frame inside a 224 canvas
    img = np.asarray(image)
    canvas = cv2.warpAffine(img, m[:2], (224, 224), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    box = np.asarray(DLIB_BOX_112) + 56
    found = landmark_model()(canvas, box)
    back = np.linalg.inv(m)
    in_photo = found @ back[:2, :2].T + back[:2, 2]
    return _chips_at_landmarks([img], in_photo[None], (int(size[0]), int(size[1])))


def model_view(faces: Union[np.ndarray, Sequence[np.ndarray]], model: CfgLike) -> np.ndarray:
    """Aligned faces of any size -> the model's input pixels, uint8 ``(N, h, w, 3)``.

    Args:
        faces: uint8 RGB ``(N, H, W, 3)`` (or one ``(H, W, 3)``) on the ArcFace 112x112
            template, at any size (112 for HR faces, ``res`` for LR faces), or a list of
            such arrays of different sizes (a batch mixing face sizes), viewed in order.
            ArcFace-template faces already at the model's input size are returned as they are.
        model: the model or its :class:`~lrface.models.base.ModelCfg`.
    """
    cfg = _cfg(model)
    if isinstance(faces, (list, tuple)):
        if not len(faces):
            raise ValueError("no faces to view")
        items = [_check_faces(f) for f in faces]
        views = [None] * len(items)
        by_shape: dict = {}
        for i, f in enumerate(items):  # one batched view per size, then back in input order
            by_shape.setdefault(f.shape[1:], []).append(i)
        for members in by_shape.values():
            v = model_view(np.concatenate([items[i] for i in members]), cfg)
            starts = np.cumsum([0] + [len(items[i]) for i in members])
            for i, a, b in zip(members, starts[:-1], starts[1:]):
                views[i] = v[a:b]
        return np.concatenate(views)
    faces = _check_faces(faces)
    if cfg.template == "dlib_chip":  # never a shortcut: a 112 ArcFace crop is not a 112 chip
        return chip_view(faces, cfg.input_size, "dlib_chip")
    if tuple(faces.shape[1:3]) == tuple(cfg.input_size):
        return faces  # already the model's view (idempotent: a 112x96 crop is not cropped again)
    if cfg.template == "arcface_112x96":
        faces = np.ascontiguousarray(resize(faces, (112, 112))[:, :, 8:104])
    return resize(faces, cfg.input_size)


def lr_faces(
    faces: np.ndarray,
    res: Optional[int],
    degradation: RecipeLike = "area",
    *,
    seed: int = 0,
    indices: Optional[Sequence[int]] = None,
) -> np.ndarray:
    """Step 1 of the path: HR faces -> LR faces at ``res`` (unchanged if ``res`` is None or
    the faces are not larger than ``res``)."""
    faces = _check_faces(faces)
    if res is None or max(faces.shape[1:3]) <= int(res):
        return faces
    return degrade(faces, int(res), degradation, seed=seed, indices=indices)


def model_input(
    faces: Union[np.ndarray, Sequence[np.ndarray]],
    model: CfgLike,
    res: Optional[int] = None,
    degradation: RecipeLike = "area",
    *,
    seed: int = 0,
    indices: Optional[Sequence[int]] = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """Aligned faces -> the tensor ``model`` sees when the faces are ``res`` pixels across.

    Args:
        faces: uint8 RGB ``(N, H, W, 3)`` aligned on the 112x112 template (HR, or LR already),
            or a list of LR face arrays of different sizes (with ``res=None``).
        model: the model or its config (input size, template, normalisation).
        res: the face size to simulate (``None``: use the faces as they are).
        degradation: :func:`~lrface.face.degrade.degrade` preset name or recipe for step 1.
        seed, indices: degradation seed and per-face random-stream keys (see ``degrade``).
        channels_last: return a channels-last tensor (for BN-folded NHWC inference copies).

    Returns:
        float32 ``(N, 3, h, w)``, normalised as the model's config says.
    """
    if isinstance(faces, (list, tuple)):  # LR faces of several sizes (mixed-size training batches)
        if res is not None:
            raise ValueError("a list of faces of several sizes is already low-resolution: pass res=None")
        view = model_view(faces, model)
    else:
        view = model_view(lr_faces(faces, res, degradation, seed=seed, indices=indices), model)
    x = preprocess(view, _cfg(model))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def inference_copy(model: nn.Module) -> nn.Module:
    """A BN-folded, channels-last, eval-mode copy of ``model`` for fast CPU inference.

    Embeddings equal the original's within 1e-4 (tested in ``tests/test_models.py``); about
    2x faster for MobileFaceNet on CPU. The original is left untouched.
    """
    from lrface.models.export import fold_bn, to_channels_last

    return to_channels_last(fold_bn(model))  # fold_bn works on a deep copy in eval mode


@torch.inference_mode()
def run_views(model: FaceModel, views: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Raw embeddings ``(N, D)`` float32 of inputs that already are the model's view (the
    output of :func:`model_view` or :func:`photo_chip`): normalised and run, never viewed
    again (a 150 px chip given to :func:`run_batches` would be taken for an ArcFace frame and
    cut a second time)."""
    views = _check_faces(views)
    cfg = _cfg(model)
    if tuple(views.shape[1:3]) != tuple(cfg.input_size):
        raise ValueError(f"views of {views.shape[1:3]} px are not the model's input {tuple(cfg.input_size)}")
    dev = next(model.parameters()).device
    out = []
    for s in range(0, len(views), max(1, int(batch_size))):
        x = preprocess(views[s : s + batch_size], cfg).contiguous(memory_format=torch.channels_last).to(dev)
        out.append(model(x).float().cpu().numpy())
    if not out:
        return np.zeros((0, model.embedding_size), np.float32)
    return np.concatenate(out)


@torch.inference_mode()
def run_batches(model: FaceModel, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Raw (not normalised) embeddings ``(N, D)`` float32 of aligned faces already at the size
    to be simulated (LR faces at ``res``, or HR faces), through :func:`model_input`.

    Batches are cut from ``faces`` in order, so two callers with the same faces and
    ``batch_size`` run bit-identical forward passes.
    """
    faces = _check_faces(faces)
    dev = next(model.parameters()).device
    out = []
    for s in range(0, len(faces), max(1, int(batch_size))):
        x = model_input(faces[s : s + batch_size], model, channels_last=True).to(dev)
        out.append(model(x).float().cpu().numpy())
    if not out:
        return np.zeros((0, model.embedding_size), np.float32)
    return np.concatenate(out)
