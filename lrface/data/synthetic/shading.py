"""Lighting, downsampling and sensor noise for synthetic faces.

Light varies smoothly, so it is computed as a gain map on a grid at a quarter of the output
resolution and resized: Lambertian shading of the head ellipsoid (fading out into the
background) times blurred ambient-occlusion shapes (eye sockets, the side of the nose away
from the light, under the nose, lip and chin; a highlight on the nose tip), times brightness
and white balance. It is applied after the (supersampled) drawing has been area-downsampled,
which together keeps a 112 px face under two milliseconds.
"""
from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from lrface.data.synthetic.render import FaceGeometry, draw
from lrface.data.synthetic.shapes import eyes, identity_shapes, mouth


_GRID = 4  # the gain map is computed at 1/_GRID of the output resolution, then resized


def _grid_matrix(m_out: np.ndarray, out_hw: tuple, grid_hw: tuple) -> np.ndarray:
    """Compose ``m_out`` with the output -> coarse grid map (cv2.resize pixel centres)."""
    k = np.array([[grid_hw[1] / out_hw[1]], [grid_hw[0] / out_hw[0]]])
    m = m_out * k
    m[:, 2] += 0.5 * k[:, 0] - 0.5
    return m


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    # Fresh Gaussian noise costs ~0.6 ms per 112 px image; a fixed bank cropped at a random
    # offset per image is as good for sensor noise and ~100x cheaper. Built on first use.
    return np.random.default_rng(0x5EED).standard_normal((512, 512, 3), dtype=np.float32)


def _noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    bank = _noise_bank()
    if h > bank.shape[0] or w > bank.shape[1]:
        return rng.standard_normal((h, w, 3), dtype=np.float32)
    y, x = rng.integers(0, bank.shape[0] - h + 1), rng.integers(0, bank.shape[1] - w + 1)
    return bank[y : y + h, x : x + w]


@lru_cache(maxsize=16)
def _grid(h: int, w: int) -> tuple:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = gy.flags.writeable = False
    return gx, gy


def gain_map(out_hw: tuple, m_out: np.ndarray, G: FaceGeometry, occ_lists: list) -> np.ndarray:
    """(h, w, 3) float32 per-pixel gain for an image whose face maps through ``m_out``.

    Args:
        out_hw: output ``(h, w)``.
        m_out: (2, 3) posed canonical frame -> output pixels.
        G: the posed face (pose, light, identity).
        occ_lists: :class:`~lrface.data.synthetic.render.Shapes` with occlusion darkness values.
    """
    p, s = G.p, G.s
    h, w = out_hw
    gh, gw = max(8, -(-h // _GRID)), max(8, -(-w // _GRID))
    mg = _grid_matrix(m_out, out_hw, (gh, gw))
    i00, i01, i02, i10, i11, i12 = (float(v) for v in cv2.invertAffineTransform(mg).ravel())
    gx, gy = _grid(gh, gw)
    ra, rb = G.a + 0.7 * p.hair_vol, G.b + 0.7 * p.hair_vol
    # Python-float coefficients keep the arithmetic in float32 (numpy scalars would promote).
    u = gx * (i00 / ra) + gy * (i01 / ra) + (i02 - G.cx) / ra
    v = gx * (i10 / rb) + gy * (i11 / rb) + (i12 - G.cy) / rb
    r2 = u * u + v * v
    nz = np.sqrt(np.maximum(0.0, 1.0 - r2))
    k = 1.0 / np.sqrt(np.maximum(r2, 1.0))  # outside the head: horizontal rim normals
    # The light is fixed to the camera; express it in the head frame (undo roll, then yaw).
    th = math.atan2(mg[1, 0], mg[0, 0])
    lx, ly, lz = s.light
    lx, ly = lx * math.cos(th) + ly * math.sin(th), -lx * math.sin(th) + ly * math.cos(th)
    ya = math.radians(s.yaw)
    lx, lz = lx * math.cos(ya) - lz * math.sin(ya), lx * math.sin(ya) + lz * math.cos(ya)
    lam = np.maximum(0.0, (u * lx + v * ly) * k + nz * lz)
    amb = s.ambient
    shade = (amb + (1.0 - amb) * lam) / (amb + (1.0 - amb) * 0.9)
    shade = 1.0 + (shade - 1.0) * np.exp(-3.0 * np.maximum(0.0, np.sqrt(r2) - 1.0))

    # Occlusion is painted anti-aliased into uint8 around a neutral 128, so a shape thinner
    # than a grid cell still contributes its area-weighted darkness (or, below 128, light).
    occ8 = np.full((gh, gw), 128, np.uint8)
    side = min(1.0, abs(lx) * 2.0) * 0.3  # the nose casts a shadow on the side away from the light
    slots = {"ridge_l": 0.1 + (side if lx > 0 else 0.0), "ridge_r": 0.1 + (side if lx <= 0 else 0.0)}
    draw(occ8, mg, G, occ_lists, slots, cv2.LINE_AA, value=lambda d: 128.0 + 127.0 * d)
    px = math.sqrt(abs(mg[0, 0] * mg[1, 1] - mg[0, 1] * mg[1, 0]))
    occ = cv2.GaussianBlur(occ8, (0, 0), max(0.5, 1.6 * px)).astype(np.float32)
    occ = occ * np.float32(1 / 127.0) - np.float32(128 / 127.0)
    g = (shade * (1.0 - occ) * s.brightness)[..., None] * np.asarray(s.gains, np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)


def render(
    canvas: np.ndarray, ss: int, m_out: np.ndarray, G: FaceGeometry, rng: np.random.Generator
) -> np.ndarray:
    """Paint ``G`` over ``canvas`` (supersampled by ``ss``), light it, downsample, add noise.

    Args:
        canvas: (ss*h, ss*w, 3) uint8 background, painted in place.
        ss: integer supersampling factor of ``canvas`` over the output.
        m_out: (2, 3) map from the posed canonical frame to output pixels.
        G: the posed face.
        rng: source of the noise offset.

    Returns:
        (h, w, 3) uint8 RGB image.

    Example:
        >>> from lrface.data.synthetic import render_face
        >>> render_face(0, 0, size=32)[0].shape  # render() is called by render_face
        (32, 32, 3)
    """
    h, w = canvas.shape[0] // ss, canvas.shape[1] // ss
    m_draw = m_out * ss
    m_draw[:, 2] += (ss - 1) / 2.0  # output pixel j covers drawn pixels ss*j .. ss*j+ss-1
    ids = identity_shapes(G.p)
    lips, lip_occ = mouth(G)
    sclera, iris, lids = eyes(G)
    layers = [ids.back, sclera, iris, lids, ids.nose, lips, ids.front]  # painting order
    draw(canvas, m_draw, G, layers, {"clothes": G.s.clothes})
    small = cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA) if ss > 1 else canvas
    f = small.astype(np.float32)
    f *= gain_map((h, w), m_out, G, [ids.occ, lip_occ])
    if G.s.noise > 0:
        f += _noise(rng, h, w) * np.float32(G.s.noise)
    f += 0.5  # round, not truncate
    np.clip(f, 0.0, 255.0, out=f)
    return f.astype(np.uint8)
