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
     replicated border (the ``cv2.INTER_CUBIC`` convention, the one used by the
     independent LFW baseline figures in ``../shared/REFERENCES.md``);
   * shrinking always uses :data:`DOWN`, exact area averaging;
   * 112x96 models (SphereFace/CASIA crop) get columns 8:104 of the 112x112 frame, after the
     frame is brought to 112x112.

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

from typing import Optional, Sequence, Union

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
VIEW_RECIPE = "view-v2:up=bicubic-a0.75-noaa;down=area;112x96=cols8:104"

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


def model_view(faces: np.ndarray, model: CfgLike) -> np.ndarray:
    """Aligned faces of any size -> the model's input pixels, uint8 ``(N, h, w, 3)``.

    Args:
        faces: uint8 RGB ``(N, H, W, 3)`` (or one ``(H, W, 3)``) on the ArcFace 112x112
            template, at any size (112 for HR faces, ``res`` for LR faces). Faces already at
            the model's input size are returned as they are.
        model: the model or its :class:`~lrface.models.base.ModelCfg`.
    """
    cfg = _cfg(model)
    faces = _check_faces(faces)
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
    faces: np.ndarray,
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
        faces: uint8 RGB ``(N, H, W, 3)`` aligned on the 112x112 template (HR, or LR already).
        model: the model or its config (input size, template, normalisation).
        res: the face size to simulate (``None``: use the faces as they are).
        degradation: :func:`~lrface.face.degrade.degrade` preset name or recipe for step 1.
        seed, indices: degradation seed and per-face random-stream keys (see ``degrade``).
        channels_last: return a channels-last tensor (for BN-folded NHWC inference copies).

    Returns:
        float32 ``(N, 3, h, w)``, normalised as the model's config says.
    """
    x = preprocess(model_view(lr_faces(faces, res, degradation, seed=seed, indices=indices), model), _cfg(model))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def inference_copy(model: nn.Module) -> nn.Module:
    """A BN-folded, channels-last, eval-mode copy of ``model`` for fast CPU inference.

    Embeddings equal the original's within 1e-4 (tested in ``tests/test_models.py``); about
    2x faster for MobileFaceNet on CPU. The original is left untouched.
    """
    from lrface.models.export import fold_bn, to_channels_last

    return to_channels_last(fold_bn(model))  # fold_bn works on a deep copy in eval mode


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
