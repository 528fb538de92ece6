"""Drawing primitives for synthetic faces: display lists, the posed head model, the rasteriser.

Shapes are built in the canonical 112x112 frame (see :mod:`lrface.data.synthetic.params`) as
*display lists* (:class:`Shapes`): filled polygons whose points carry a depth offset. One
vectorised call (:meth:`FaceGeometry.project`) poses every point with a small 3-D head model
(points sit on an ellipsoid, the nose sticks out, so under yaw and pitch features slide and
foreshorten against the silhouette), one affine maps them into the image, and :func:`draw`
fills every polygon with ``cv2.LINE_AA``. What is drawn lives in
:mod:`lrface.data.synthetic.shapes`.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Union

import cv2
import numpy as np

from lrface.data.synthetic.params import FACE_CX, Color, IdentityParams, SampleParams

_SHIFT = 4  # cv2 fixed-point bits: points are drawn with 1/16 pixel precision
SIL = float("nan")  # depth marker for silhouette points (outline, ears, hair outside the face)
EYE_DZ, MOUTH_DZ = -3.0, 1.5  # eyes sit in sockets, lips stand out a little
Paint = Union[Color, float, str]  # a colour, a grey level, or the name of a per-sample slot


def circle(n: int) -> np.ndarray:
    """(n, 2) points on the unit circle."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], 1)


_C8, _C16 = circle(8), circle(16)


def ellipse(
    cx: float, cy: float, ax: float, ay: float, unit: np.ndarray = _C16, angle: float = 0.0
) -> np.ndarray:
    """Polygon of an ellipse (``unit`` circle samples), rotated by ``angle`` radians."""
    p = unit * (ax, ay)
    if angle:
        c, s = math.cos(angle), math.sin(angle)
        p = p @ np.array([[c, s], [-s, c]])
    return p + (cx, cy)


def xy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, 2) points from coordinates ``x`` (array or scalar) and ``y``."""
    out = np.empty((len(y), 2))
    out[:, 0] = x
    out[:, 1] = y
    return out


def band(x: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Polygon between two curves sampled at the same ``x`` (top left->right, bottom back)."""
    return np.concatenate([xy(x, top), xy(x, bottom)[::-1]])


def ribbon(pts: np.ndarray, width: Union[float, np.ndarray], closed: bool = False) -> np.ndarray:
    """A stroke of ``width`` (scalar or per point) along ``pts`` (n, 2) as a polygon to fill.

    Strokes are filled ribbons, not ``cv2.polylines``: thick anti-aliased polylines cost ~10x
    a fill, and a ribbon's width scales with the output size. ``pts`` may be a batch
    (K, n, 2). A closed stroke is returned as outer and inner contours stacked on a new first
    axis, to be filled together (even-odd) as a ring.
    """
    pts = np.asarray(pts, np.float64)
    d = np.empty_like(pts)
    d[..., 1:-1, :] = pts[..., 2:, :] - pts[..., :-2, :]
    if closed:
        d[..., 0, :], d[..., -1, :] = pts[..., 1, :] - pts[..., -1, :], pts[..., 0, :] - pts[..., -2, :]
    else:
        d[..., 0, :], d[..., -1, :] = pts[..., 1, :] - pts[..., 0, :], pts[..., -1, :] - pts[..., -2, :]
    n = d[..., ::-1] * (0.5 / np.maximum(np.hypot(d[..., 0], d[..., 1]), 1e-9))[..., None]
    n[..., 1] = -n[..., 1]
    off = n * (np.asarray(width, np.float64)[:, None] if np.ndim(width) else width)
    if closed:
        return np.stack([pts + off, pts - off])
    return np.concatenate([pts + off, (pts - off)[..., ::-1, :]], axis=-2)


class Shapes:
    """A display list in the canonical frame; ``dz`` is depth off the head surface, or SIL."""

    def __init__(self) -> None:
        self.pts: List[np.ndarray] = []
        self.dz: List[np.ndarray] = []
        self.cmds: List[tuple] = []

    def fill(self, pts: np.ndarray, paint: Paint, dz: Union[float, np.ndarray] = SIL) -> None:
        """One polygon; ``dz`` per point or for all."""
        self.fill_many(np.asarray(pts, np.float64)[None], paint, dz)

    def fill_many(self, polys: np.ndarray, paint: Paint, dz: Union[float, np.ndarray] = SIL) -> None:
        """K polygons of n points, ``polys`` (K, n, 2), in one fill (overlaps cancel, even-odd)."""
        if len(polys):
            pts = np.asarray(polys, np.float64).reshape(-1, 2)
            self.pts.append(pts)
            per_point = np.tile(np.asarray(dz, np.float64), len(polys)) if np.ndim(dz) else None
            self.dz.append(np.full(len(pts), dz) if per_point is None else per_point)
            self.cmds.append((polys.shape[0], polys.shape[1], paint))

    def packed(self) -> "Shapes":
        """The same list with its points in one array (cheaper to concatenate later)."""
        out = self.with_points(np.concatenate(self.pts) if self.pts else np.empty((0, 2)))
        out.dz = [np.concatenate(self.dz) if self.dz else np.empty(0)]
        return out

    def with_points(self, pts: np.ndarray) -> "Shapes":
        """The same commands (and depths) over replacement points of a packed list."""
        out = Shapes()
        out.pts, out.dz, out.cmds = [pts], self.dz, self.cmds
        return out


class FaceGeometry:
    """Pose of one sample: maps canonical points (with depth offsets) to posed canonical points.

    Surface points lie on the head ellipsoid (semi-axes ``a``, ``b``, ``depth``) plus ``dz``;
    silhouette points (``dz`` NaN) scale with the ellipsoid's outline, which barely changes
    as it turns. ``landmarks`` are the posed five points; callers map them onto a template.
    """

    def __init__(self, p: IdentityParams, s: SampleParams) -> None:
        self.p, self.s = p, s
        self.cx, self.cy = FACE_CX, (p.top + p.chin) / 2.0
        self.a, self.b = p.half_w, (p.chin - p.top) / 2.0
        ya, pa = math.radians(s.yaw), math.radians(s.pitch)
        self._r = (math.cos(ya), math.sin(ya), math.cos(pa), math.sin(pa))
        # Half-widths of the ellipsoid's outline after turning, relative to the frontal ones.
        self._ks = (
            math.hypot(self._r[0], p.depth / self.a * self._r[1]),
            math.hypot(self._r[2], p.depth / self.b * self._r[3]),
        )
        lm = p.landmarks
        # A smile pulls the corners up and out; the landmarks follow, as a detector's would.
        self.mouth = lm[3:] + np.array([[-1.6, -3.0], [1.6, -3.0]]) * s.smile
        dz = np.array([EYE_DZ, EYE_DZ, p.nose_z, MOUTH_DZ, MOUTH_DZ])
        self.landmarks = self.project(np.vstack([lm[:3], self.mouth]), dz)

    def project(self, pts: np.ndarray, dz: np.ndarray) -> np.ndarray:
        """Pose (N, 2) canonical points with (N,) depth offsets (NaN = silhouette) -> (N, 2)."""
        x, y = pts[:, 0] - self.cx, pts[:, 1] - self.cy
        cy_, sy_, cp_, sp_ = self._r
        z = self.p.depth * np.sqrt(np.maximum(0.0, 1.0 - (x / self.a) ** 2 - (y / self.b) ** 2)) + dz
        sil = np.isnan(dz)
        out = np.empty_like(pts)
        out[:, 0] = np.where(sil, x * self._ks[0], x * cy_ + z * sy_) + self.cx
        out[:, 1] = np.where(sil, y * self._ks[1], y * cp_ + z * sp_) + self.cy
        return out


def draw(
    img: np.ndarray,
    m: np.ndarray,
    G: FaceGeometry,
    lists: Sequence[Shapes],
    slots: Dict[str, Paint],
    line_type: int = cv2.LINE_AA,
    value: Optional[Callable[[Paint], Paint]] = None,
) -> None:
    """Pose, map (``m``: posed canonical -> ``img`` pixels) and fill display lists in order.

    ``slots`` resolves named paints; ``value``, if given, maps every paint to the value drawn.
    """
    pts = np.concatenate([a for sh in lists for a in sh.pts])
    dz = np.concatenate([a for sh in lists for a in sh.dz])
    mf = m * float(1 << _SHIFT)
    fx = np.rint(G.project(pts, dz) @ mf[:, :2].T + mf[:, 2]).astype(np.int32)
    i = 0
    for sh in lists:
        for k, n, paint in sh.cmds:
            col = slots[paint] if isinstance(paint, str) else paint
            if value is not None:
                col = value(col)
            cv2.fillPoly(img, list(fx[i : i + k * n].reshape(k, n, 2)), col, line_type, _SHIFT)
            i += k * n
