"""Small face crops and small non-face patches, as a camera system might hand them over.

What the face-ness check (:mod:`lrface.face.faceness`) is trained and measured on:

* :func:`framed_faces`: aligned faces re-cut with a random framing (from tighter than the
  ArcFace crop to a loose box with 45% margin, shifted, tilted) and shrunk to 12-32 px with one
  of the degradation presets;
* :func:`synthetic_nonfaces`: uniform and gradient patches, noise, stripes, checkerboards and
  blobs;
* :func:`image_patches`: patches of natural images (any scene without faces);
* :func:`corner_patches`: the background corners of aligned face crops (hair, walls, collars:
  what a loose detector box around the wrong spot shows).

Every generator is seeded and returns uint8 RGB arrays of varying size.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> [p.shape[-1] for p in synthetic_nonfaces(3, rng)]
    [3, 3, 3]
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np

__all__ = ["framed_faces", "synthetic_nonfaces", "image_patches", "corner_patches", "SIZES"]

#: Crop sizes (px) drawn uniformly.
SIZES: Tuple[int, int] = (12, 32)


def _size(rng: np.random.Generator, sizes: Tuple[int, int]) -> int:
    return int(rng.integers(sizes[0], sizes[1] + 1))


def _shrink(img: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    from lrface.face.degrade import degrade

    preset = ("area", "bicubic", "mild", "surveillance")[int(rng.integers(4))]
    return degrade(img, s, preset, seed=int(rng.integers(1 << 30)))


def framed_faces(faces112: np.ndarray, n: int, rng: np.random.Generator,
                 sizes: Tuple[int, int] = SIZES) -> List[np.ndarray]:
    """``n`` face crops re-framed from aligned 112x112 faces (drawn with replacement)."""
    out = []
    for _ in range(n):
        f = faces112[int(rng.integers(len(faces112)))]
        side = 112 * rng.uniform(0.75, 1.45)
        cx, cy = 56 + rng.uniform(-0.08, 0.08) * side, 60 + rng.uniform(-0.08, 0.08) * side
        m = cv2.getRotationMatrix2D((cx, cy), float(rng.uniform(-12, 12)), 112 / side)
        m[:, 2] += 56 - np.array([cx, cy])
        crop = cv2.warpAffine(f, m, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < 0.1:
            crop = np.repeat(cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
        out.append(_shrink(np.ascontiguousarray(crop), _size(rng, sizes), rng))
    return out


def synthetic_nonfaces(n: int, rng: np.random.Generator, sizes: Tuple[int, int] = SIZES) -> List[np.ndarray]:
    """``n`` procedural non-face patches (uniform, gradient, noise, stripes, checkerboard, blobs)."""
    out = []
    for _ in range(n):
        s = _size(rng, sizes)
        kind = int(rng.integers(6))
        base = rng.uniform(0, 255, 3)
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / max(1, s - 1)
        if kind == 0:  # uniform, maybe slightly noisy
            img = np.broadcast_to(base, (s, s, 3)) + rng.normal(0, rng.uniform(0, 4), (s, s, 3))
        elif kind == 1:  # linear or radial gradient between two colours
            other = rng.uniform(0, 255, 3)
            t = np.hypot(xx - rng.random(), yy - rng.random()) if rng.random() < 0.5 else (
                xx * np.cos(a := rng.uniform(0, np.pi)) + yy * np.sin(a))
            t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
            img = base * (1 - t[..., None]) + other * t[..., None]
        elif kind == 2:  # noise: white or smoothed
            img = base + rng.normal(0, rng.uniform(10, 80), (s, s, 3))
            if rng.random() < 0.5:
                img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), rng.uniform(0.7, 2.0))
        elif kind == 3:  # stripes
            period = rng.uniform(2, s / 2)
            a = rng.uniform(0, np.pi)
            t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) * s / period)
            img = base * t[..., None] + rng.uniform(0, 255, 3) * (1 - t[..., None])
        elif kind == 4:  # checkerboard
            k = int(rng.integers(2, max(3, s // 2)))
            t = ((np.floor(xx * k) + np.floor(yy * k)) % 2).astype(np.float32)
            img = base * t[..., None] + rng.uniform(0, 255, 3) * (1 - t[..., None])
        else:  # random blobs on a background
            img = np.broadcast_to(base, (s, s, 3)).astype(np.float32).copy()
            for _ in range(int(rng.integers(1, 5))):
                c = (int(rng.integers(s)), int(rng.integers(s)))
                ax = (int(rng.integers(1, max(2, s // 2))), int(rng.integers(1, max(2, s // 2))))
                cv2.ellipse(img, c, ax, float(rng.uniform(0, 180)), 0, 360, tuple(float(v) for v in rng.uniform(0, 255, 3)), -1)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def image_patches(images: Sequence[np.ndarray], n: int, rng: np.random.Generator,
                  sizes: Tuple[int, int] = SIZES) -> List[np.ndarray]:
    """``n`` square patches of random position and scale from ``images`` (RGB, no faces),
    shrunk to 12-32 px."""
    out = []
    for _ in range(n):
        img = images[int(rng.integers(len(images)))]
        h, w = img.shape[:2]
        side = int(rng.integers(max(8, min(h, w) // 16), max(9, min(h, w) // 2)))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        out.append(_shrink(np.ascontiguousarray(img[y:y + side, x:x + side]), _size(rng, sizes), rng))
    return out


def corner_patches(faces112: np.ndarray, n: int, rng: np.random.Generator,
                   sizes: Tuple[int, int] = SIZES) -> List[np.ndarray]:
    """``n`` patches from the margins of aligned 112 crops (left/right strips beside the face,
    the strip above the forehead): background, hair, ears, collars, not a face."""
    out = []
    for _ in range(n):
        f = faces112[int(rng.integers(len(faces112)))]
        side = int(rng.integers(14, 26))
        zone = int(rng.integers(3))
        if zone == 0:  # left strip
            x, y = int(rng.integers(0, 20 - side // 2)), int(rng.integers(0, 112 - side))
        elif zone == 1:  # right strip
            x, y = int(rng.integers(92 - side // 2, 112 - side + 1)), int(rng.integers(0, 112 - side))
        else:  # above the forehead
            x, y = int(rng.integers(0, 112 - side)), int(rng.integers(0, max(1, 22 - side // 2)))
        out.append(_shrink(np.ascontiguousarray(f[y:y + side, x:x + side]), _size(rng, sizes), rng))
    return out
