"""Rendering of synthetic faces: aligned crops (:func:`render_face`) and unaligned scenes
(:func:`render_scene`).

Faces are drawn at high resolution (HR, :data:`HR_SIZE` = 112 px, or the requested size when
larger). A smaller ``size`` is *not* drawn directly: the 112 px face is passed through
:func:`lrface.face.degrade.degrade` (default preset ``"area"``), the one low-resolution path
of lrface, so a synthetic 16 px face is exactly what training and evaluation make of a real
112 px aligned face. Alignment uses :func:`lrface.face.align.similarity_transform`.
"""
from __future__ import annotations

import math
import operator
from typing import Tuple, Union

import cv2
import numpy as np

from lrface.data.synthetic.params import identity_params, sample_params, sample_rng
from lrface.data.synthetic.render import FaceGeometry
from lrface.data.synthetic.shading import render
from lrface.face.align import ARCFACE_TEMPLATE_112, similarity_transform, template_for, transform_points
from lrface.face.degrade import Degradation, degrade, get_preset

__all__ = ["HR_SIZE", "render_face", "render_scene"]

#: Side at which aligned faces are drawn; smaller faces are made from it by ``degrade``.
HR_SIZE = 112

_IOD_112 = float(np.linalg.norm(ARCFACE_TEMPLATE_112[1] - ARCFACE_TEMPLATE_112[0]))
# Rough extent of the painted head (hair to chin, ear to ear) in the canonical frame, used to
# keep a scene's face inside its canvas.
_HEAD_CENTRE, _HEAD_HALF = np.array([56.0, 60.0]), np.array([46.0, 56.0])


def _background(
    r: np.random.Generator, h: int, w: int, ss: int, soft: int, texture: bool = True
) -> np.ndarray:
    """A random room-like background for an ``h x w`` output, returned supersampled by ``ss``.

    Painted at ``1/soft`` of the output resolution and upscaled (which doubles as a
    depth-of-field blur); ``texture`` adds blotchy noise. The final ``ss`` upscale is
    nearest-neighbour: area-downsampling gives back exactly the output-resolution background,
    and it is several times cheaper than interpolating at the supersampled size.
    """
    lh, lw = max(4, h // soft), max(4, w // soft)
    g = int(r.integers(2, 5))
    base = r.uniform(20.0, 235.0, (g, g, 3)).astype(np.float32)
    sat = r.uniform(0.05, 0.55)  # rooms are mostly muted
    base = base.mean(2, keepdims=True) * (1 - sat) + base * sat
    img = cv2.resize(base, (lw, lh), interpolation=cv2.INTER_CUBIC)
    n = int(r.integers(0, 7))
    shapes = r.random((n, 8))  # one draw for all shapes: scalar RNG calls dominate otherwise
    for kind, x0, y0, x1, y1, cr, cg, cb in shapes:
        grey = 80.0 * (cr + cg + cb)  # objects: colours pulled 40% towards grey
        col = (6.0 + 141.0 * cr + 0.4 * grey, 6.0 + 141.0 * cg + 0.4 * grey, 6.0 + 141.0 * cb + 0.4 * grey)
        p0, p1 = (int(x0 * lw), int(y0 * lh)), (int(x1 * lw), int(y1 * lh))
        if kind < 1 / 3:
            cv2.rectangle(img, p0, p1, col, -1)
        elif kind < 2 / 3:
            cv2.line(img, p0, p1, col, 1 + int(x1 * 7) * max(1, lw // 56))
        else:
            cv2.circle(img, p0, 1 + int(y1 * lw / 4), col, -1)
    if texture:
        tex = np.float32(r.uniform(0.0, 12.0))
        noise = r.standard_normal((lh // 2 + 1, lw // 2 + 1), dtype=np.float32) * tex
        img += cv2.resize(noise, (lw, lh), interpolation=cv2.INTER_LINEAR)[..., None]
    img = cv2.resize(np.clip(img, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(img, (w * ss, h * ss), interpolation=cv2.INTER_NEAREST) if ss > 1 else img


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The (2, 3) affine ``outer o inner``."""
    m = np.empty((2, 3))
    m[:, :2] = outer[:, :2] @ inner[:, :2]
    m[:, 2] = outer[:, :2] @ inner[:, 2] + outer[:, 2]
    return m


def _similarity(scale: float, degrees: float, src_c: np.ndarray, dst_c: np.ndarray) -> np.ndarray:
    """Scale and rotate about ``src_c`` and move it to ``dst_c``."""
    t = math.radians(degrees)
    a = scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return np.hstack([a, (dst_c - a @ src_c)[:, None]])


def _check_size(size: int, name: str = "size") -> int:
    try:
        s = operator.index(size)
    except TypeError:
        raise TypeError(f"{name} must be an integer number of pixels, got {size!r}") from None
    if s < 8:
        raise ValueError(f"{name} must be >= 8 pixels, got {s}")
    return s


def _degrade_key(seed: int, identity: int, sample: int) -> int:
    # degrade() keys its random streams by (seed, index); one index per item keeps a random
    # preset's draws a pure function of (seed, identity, sample), like everything else here.
    return int(np.random.SeedSequence([seed, identity, sample, 0x1D]).generate_state(1)[0])


def check_degradation(degradation: Union[str, Degradation]) -> Degradation:
    """The :class:`~lrface.face.degrade.Degradation` for a preset name or instance (validated)."""
    if isinstance(degradation, Degradation):
        return degradation
    if isinstance(degradation, str):
        return get_preset(degradation)
    raise TypeError(f"degradation must be a preset name or a Degradation, got {degradation!r}")


def _render_aligned(identity: int, sample: int, seed: int, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draw the aligned face directly at ``size`` (>= :data:`HR_SIZE`) px."""
    p = identity_params(seed, identity)
    r = sample_rng(seed, identity, sample)
    s = sample_params(r)
    G = FaceGeometry(p, s)
    tpl = template_for(size)
    k = size / 112.0
    jitter = _similarity(s.scale, s.roll, tpl.mean(0), tpl.mean(0) + k * np.asarray(s.shift))
    m = _compose(jitter, similarity_transform(G.landmarks, tpl))
    # At >= 112 px cv2's anti-aliased fills are smooth enough without supersampling.
    img = render(_background(r, size, size, 1, 4, texture=False), 1, m, G, r)
    return img, transform_points(G.landmarks, m).astype(np.float32)


def render_face(
    identity: int,
    sample: int,
    seed: int = 0,
    size: int = 112,
    degradation: Union[str, Degradation] = "area",
) -> Tuple[np.ndarray, np.ndarray]:
    """Render one pre-aligned face crop.

    The face is posed and lit, then aligned the way a detector + 5-point alignment would do it
    (least-squares similarity of its posed landmarks onto the template), then given a small
    residual roll/scale/shift (alignment noise), so landmarks land *near*, not exactly on, the
    template. Below :data:`HR_SIZE` the face is drawn at 112 px and made low-resolution by
    ``degrade(img, size, degradation)``, exactly as the rest of lrface makes LR faces.

    Args:
        identity: identity index (>= 0).
        sample: sample index within the identity (>= 0).
        seed: dataset seed (>= 0); different seeds give unrelated identities.
        size: output side in pixels (>= 8). At 112 and above the face is drawn on
            :func:`lrface.face.align.template_for` ``(size)``; below, it is the 112 px face
            degraded to ``size``.
        degradation: preset name or :class:`~lrface.face.degrade.Degradation` used below
            112 px (random presets are keyed by ``(seed, identity, sample)``); ignored at
            112 px and above.

    Returns:
        ``(image, landmarks)``: uint8 RGB image (``size x size``, or the preset's ``upsample``
        size) and (5, 2) float32 true landmarks (left eye, right eye, nose tip, left mouth
        corner, right mouth corner) in its pixels (pixel-centre convention: a 112 px point
        ``X`` is ``(X + 0.5) * k - 0.5`` after resizing by ``k``).

    Example:
        >>> img, lm = render_face(0, 0, size=112)
        >>> img.shape, lm.shape
        ((112, 112, 3), (5, 2))
        >>> from lrface.face.degrade import degrade
        >>> bool((render_face(0, 0, size=16)[0] == degrade(img, 16, "area")).all())
        True
    """
    size = _check_size(size)
    deg = check_degradation(degradation)
    hr = max(size, HR_SIZE)
    img, lm = _render_aligned(identity, sample, seed, hr)
    if size == hr:
        return img, lm
    img = degrade(img, size, deg, seed=seed, indices=_degrade_key(seed, identity, sample))
    k = img.shape[0] / hr  # the output may be upsampled back by the preset
    return img, ((lm + 0.5) * k - 0.5).astype(np.float32)


def render_scene(
    identity: int,
    sample: int,
    seed: int = 0,
    canvas: Tuple[int, int] = (160, 160),
    face_px: float = 60.0,
    max_rotation: float = 20.0,
    scale_jitter: float = 0.15,
) -> Tuple[np.ndarray, np.ndarray]:
    """Render an unaligned "photo" of a face in a larger canvas with a random background.

    The face of ``(identity, sample)`` has the same identity, pose, expression and lighting as
    in :func:`render_face`; it is then placed at a random position, in-plane rotation and size.

    Args:
        identity: identity index (>= 0).
        sample: sample index (>= 0).
        seed: dataset seed (>= 0).
        canvas: ``(height, width)`` of the output image.
        face_px: nominal face width in pixels, defined as twice the inter-ocular distance
            (about the width of an MTCNN box); the actual size varies by ``+-scale_jitter``.
        max_rotation: in-plane rotation is uniform in ``+-max_rotation`` degrees.
        scale_jitter: relative size jitter around ``face_px``.

    Returns:
        ``(image, landmarks)``: (H, W, 3) uint8 RGB canvas and (5, 2) float32 landmarks in
        canvas pixels.

    Example:
        >>> img, lm = render_scene(1, 0, canvas=(120, 160), face_px=50)
        >>> img.shape
        (120, 160, 3)
    """
    h, w = (_check_size(v, "canvas") for v in canvas)
    if not face_px > 0:
        raise ValueError(f"face_px must be positive, got {face_px}")
    if not 0.0 <= scale_jitter < 1.0:
        raise ValueError(f"scale_jitter must be in [0, 1), got {scale_jitter}")
    p = identity_params(seed, identity)
    r = sample_rng(seed, identity, sample)
    s = sample_params(r)
    G = FaceGeometry(p, s)
    sc = face_px * r.uniform(1.0 - scale_jitter, 1.0 + scale_jitter) / (2.0 * _IOD_112)
    rot = r.uniform(-max_rotation, max_rotation)
    ct, st = abs(math.cos(math.radians(rot))), abs(math.sin(math.radians(rot)))
    ext = sc * np.array([_HEAD_HALF[0] * ct + _HEAD_HALF[1] * st, _HEAD_HALF[0] * st + _HEAD_HALF[1] * ct])
    lo, hi = np.minimum(ext, (w / 2, h / 2)), np.maximum((w, h) - ext, (w / 2, h / 2))
    centre = r.uniform(lo, hi)
    place = _similarity(sc, rot, _HEAD_CENTRE, centre)
    m = _compose(place, similarity_transform(G.landmarks, ARCFACE_TEMPLATE_112))
    # Scene faces are small (tens of pixels): the canvas is drawn at 2x and box-averaged by
    # render() so strokes stay crisp. That is rasteriser anti-aliasing of the photo, not a face
    # resolution: LR faces are made from aligned crops by lrface.face.degrade.
    ss = 2
    img = render(_background(r, h, w, ss, 2), ss, m, G, r)
    return img, transform_points(G.landmarks, m).astype(np.float32)
