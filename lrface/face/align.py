"""Five-point face alignment onto the ArcFace templates.

A least-squares similarity transform (rotation, uniform scale, translation; Umeyama 1991)
maps the detected landmarks onto a fixed template, then one affine warp produces the crop.
Landmark order everywhere in lrface: left eye, right eye, nose tip, left mouth corner,
right mouth corner, in image coordinates (x right, y down; "left" = smaller x in a frontal
face, i.e. the subject's right eye).

Template source: insightface ``arcface_torch``/``face_align`` standard 112x112 template;
the 112x96 SphereFace/CASIA variant is the same points with x shifted by -8. dlib's face chip
(the input geometry of its face ResNet) is reached from the same frame by one fixed
similarity (:func:`frame_to_geometry`).
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

#: dlib's 5-point chip template in unit coordinates (``get_face_chip_details`` in dlib's
#: ``image_transforms/interpolation.h``): the outer and inner corner of the image-right eye,
#: of the image-left eye, and the base of the nose, mapped to pixels by
#: ``(padding + p) / (1 + 2 * padding) * size``.
DLIB_CHIP_UNIT = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ],
    dtype=np.float64,
)
#: The chip dlib's face ResNet was trained on: 150 px, padding 0.25.
DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25
#: ArcFace 112x112 frame -> dlib's 150 px chip, pixel coordinates: the least-squares similarity
#: from the mean positions of dlib's five landmarks on 865 aligned CelebA training faces to the
#: chip points (``benchmarks/dlib_chip_geometry.py``, result
#: ``benchmarks/results/dlib_chip_geometry.json``; fit residual 0.13 px). The chip covers x 6..106
#: and y 22..122 of the 112 frame: its bottom 10 rows lie below an aligned 112 crop.
ARCFACE_TO_DLIB_CHIP = np.array(
    [[1.497999, -0.004012, -8.920025], [0.004012, 1.497999, -33.343975]], dtype=np.float64
)

#: Face geometries a model can expect: the ArcFace template, or dlib's chip (any size).
GEOMETRIES = ("arcface", "dlib_chip")

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


def dlib_chip_points(size: int = DLIB_CHIP_SIZE, padding: float = DLIB_CHIP_PADDING) -> np.ndarray:
    """dlib's five chip points in pixels of a ``size`` chip (see :data:`DLIB_CHIP_UNIT`)."""
    return (padding + DLIB_CHIP_UNIT) / (1 + 2 * padding) * size


def _rescale(src: Tuple[int, int], dst: Tuple[int, int]) -> np.ndarray:
    """(3, 3) map between pixel coordinates of two samplings of one frame (pixel centres at
    integers, as ``cv2.warpAffine`` uses): ``x_dst = (w_dst / w_src) * (x_src + 0.5) - 0.5``."""
    sy, sx = dst[0] / src[0], dst[1] / src[1]
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], np.float64)


def frame_to_geometry(geometry: str, src_size: SizeLike, dst_size: SizeLike) -> np.ndarray:
    """(2, 3) affine from pixels of an ArcFace-template face of ``src_size`` (112, or an LR
    copy of the same frame such as 16x16) to pixels of ``geometry`` at ``dst_size``.

    ``"arcface"`` is a plain resampling of the frame; ``"dlib_chip"`` composes it with
    :data:`ARCFACE_TO_DLIB_CHIP`.

    Example:
        >>> m = frame_to_geometry("dlib_chip", 112, 150)
        >>> np.allclose(m, ARCFACE_TO_DLIB_CHIP)
        True
    """
    src, dst = _size_hw(src_size), _size_hw(dst_size)
    if geometry == "arcface":
        return _rescale(src, dst)[:2]
    if geometry != "dlib_chip":
        raise ValueError(f"unknown face geometry {geometry!r}; choose one of {', '.join(GEOMETRIES)}")
    to112 = _rescale(src, (112, 112))
    chip = np.vstack([ARCFACE_TO_DLIB_CHIP, [0, 0, 1]])
    return (_rescale((DLIB_CHIP_SIZE, DLIB_CHIP_SIZE), dst) @ chip @ to112)[:2]


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
    geometry: str = "arcface",
) -> np.ndarray:
    """Warp ``image`` so its five ``landmarks`` land on the ArcFace template.

    Args:
        image: HxWx3 uint8 RGB (use :func:`lrface.face.io.read_image` for anything else).
        landmarks: (5, 2) points in ``image`` pixel coordinates (order: see module doc).
        size: output size, ``112`` (112x112) or ``(112, 96)``; other sizes scale the template.
        border: ``"constant"`` (black, as insightface) or ``"replicate"``.
        geometry: ``"arcface"`` (the template) or ``"dlib_chip"`` (dlib's chip at ``size``,
            reached from the same five landmarks through :data:`ARCFACE_TO_DLIB_CHIP`).

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
    if geometry == "arcface":
        m = estimate_alignment(landmarks, (h, w))
    else:
        to112 = np.vstack([estimate_alignment(landmarks, 112), [0, 0, 1]])
        m = np.vstack([frame_to_geometry(geometry, 112, (h, w)), [0, 0, 1]]) @ to112
        m = m[:2]
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
