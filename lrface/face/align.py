"""Five-point face alignment onto the ArcFace templates.

A least-squares similarity transform (rotation, uniform scale, translation; Umeyama 1991)
maps the detected landmarks onto a fixed template, then one affine warp produces the crop.
Landmark order everywhere in lrface: left eye, right eye, nose tip, left mouth corner,
right mouth corner, in image coordinates (x right, y down; "left" = smaller x in a frontal
face, i.e. the subject's right eye).

Template source: insightface ``arcface_torch``/``face_align`` standard 112x112 template
(see ../shared/REFERENCES.md); the 112x96 SphereFace/CASIA variant is the same points with
x shifted by -8.
"""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import cv2
import numpy as np

#: ArcFace 112x112 five-point template, pixels (x, y).
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
#: 112 (h) x 96 (w) SphereFace/CASIA variant: x shifted by -8.
ARCFACE_TEMPLATE_112x96 = ARCFACE_TEMPLATE_112 - np.array([8.0, 0.0])

TEMPLATES = {
    (112, 112): ARCFACE_TEMPLATE_112,
    (112, 96): ARCFACE_TEMPLATE_112x96,
}

SizeLike = Union[int, Tuple[int, int]]


def _size_hw(size: SizeLike) -> Tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    h, w = (int(v) for v in size)
    return h, w


def template_for(size: SizeLike = 112) -> np.ndarray:
    """The five-point template for an output size ``(h, w)``.

    ``112`` / ``(112, 112)`` and ``(112, 96)`` are the standard ones; any other size scales
    the 112x112 template uniformly (and centres it horizontally), so e.g. a 224 crop has the
    same framing as a 112 crop.
    """
    h, w = _size_hw(size)
    if (h, w) in TEMPLATES:
        return TEMPLATES[(h, w)].copy()
    s = h / 112.0
    t = ARCFACE_TEMPLATE_112 * s
    t[:, 0] += (w - 112.0 * s) / 2.0
    return t


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform mapping ``src`` points onto ``dst`` (Umeyama).

    Args:
        src: (K, 2) source points, K >= 2.
        dst: (K, 2) destination points.

    Returns:
        (2, 3) float64 affine matrix ``M`` with ``dst ~= M[:, :2] @ src + M[:, 2]``.

    Raises:
        ValueError: wrong shapes, non-finite values, or degenerate (coincident) points.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 2 or src.shape != dst.shape or src.shape[0] < 2:
        raise ValueError(f"expected two (K, 2) point arrays with K >= 2, got {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ValueError("landmarks contain NaN or inf")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = (s_c**2).sum() / len(src)
    if var_s < 1e-12:
        raise ValueError("degenerate landmarks: all points coincide")
    cov = d_c.T @ s_c / len(src)
    u, sig, vt = np.linalg.svd(cov)
    # Reflection guard: a similarity transform must keep orientation (det R = +1).
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / var_s
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def estimate_alignment(landmarks: np.ndarray, size: SizeLike = 112) -> np.ndarray:
    """(2, 3) matrix that maps image coordinates onto the template of ``size``."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if lm.shape != (5, 2):
        raise ValueError(f"expected 5 landmarks (5, 2), got {np.asarray(landmarks).shape}")
    return similarity_transform(lm, template_for(size))


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine ``matrix`` to (K, 2) ``points``."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return p @ matrix[:, :2].T + matrix[:, 2]


def align(
    image: np.ndarray,
    landmarks: np.ndarray,
    size: SizeLike = 112,
    border: str = "constant",
) -> np.ndarray:
    """Warp ``image`` so its five ``landmarks`` land on the ArcFace template.

    Args:
        image: HxWx3 uint8 RGB (use :func:`lrface.face.io.read_image` for anything else).
        landmarks: (5, 2) points in ``image`` pixel coordinates (order: see module doc).
        size: output size, ``112`` (112x112) or ``(112, 96)``; other sizes scale the template.
        border: ``"constant"`` (black, as insightface) or ``"replicate"``.

    Returns:
        (h, w, 3) uint8 RGB aligned crop.

    Example:
        >>> import numpy as np
        >>> img = np.zeros((200, 200, 3), np.uint8)
        >>> align(img, template_for(112) + 40).shape
        (112, 112, 3)
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"align expects an HxWx3 uint8 RGB image, got shape {img.shape} dtype {img.dtype}")
    h, w = _size_hw(size)
    m = estimate_alignment(landmarks, (h, w))
    mode = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}[border]
    # Bilinear keeps the warp cheap and matches insightface's norm_crop (borderValue=0).
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=mode, borderValue=0)


def align_batch(
    images: Sequence[np.ndarray], landmarks: Sequence[np.ndarray], size: SizeLike = 112
) -> np.ndarray:
    """Align several images (each with its own (5, 2) landmarks) into an (N, h, w, 3) array."""
    if len(images) != len(landmarks):
        raise ValueError(f"{len(images)} images but {len(landmarks)} landmark sets")
    h, w = _size_hw(size)
    out = np.empty((len(images), h, w, 3), np.uint8)
    for i, (im, lm) in enumerate(zip(images, landmarks)):
        out[i] = align(im, lm, (h, w))
    return out
