"""What a synthetic face is made of: the display lists of hair, head, eyes, nose and mouth.

Built with the primitives of :mod:`lrface.data.synthetic.render`, in the canonical frame.
Speed comes from caching, since per-shape numpy calls, not pixels, dominate a 112 px face:
identity-only shapes (hair, outline, nose, beard, glasses) are built once per identity
(:func:`identity_shapes`); eyes, brows and mouth are affine in the sample's expression values
(eye openness, brow raise, smile, mouth opening), so they are cached as a basis and each sample
costs a couple of multiply-adds (:func:`eyes`, :func:`mouth`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Tuple

import numpy as np

from lrface.data.synthetic.params import FACE_CX, IdentityParams, glasses_color, mix, scale
from lrface.data.synthetic.render import (
    EYE_DZ,
    MOUTH_DZ,
    SIL,
    FaceGeometry,
    Shapes,
    band,
    circle,
    xy,
    ellipse,
    ribbon,
)

_C8, _C16, _C24 = circle(8), circle(16), circle(24)
_L9, _L13, _L15 = np.linspace(0, 1, 9), np.linspace(-1, 1, 13), np.linspace(-1, 1, 15)
_Q13 = 1.0 - _L13**2
_EYE_UP, _EYE_LO = _Q13**0.6, _Q13**0.8
_LASH = 0.45 + 0.55 * _Q13**0.3  # the lash line thins towards the corners
_BROW_ARC = np.sin(np.pi * _L9**0.8)
_BROW_TH = (1 - 0.6 * _L9**1.6) * (0.7 + 0.3 * np.minimum(1.0, 4 * _L9))
_SIDES = np.array([-1.0, 1.0])[:, None]  # left (-1) and right (+1) rows of paired features
# Iris ring, iris, pupil, catch-light: unit circles scaled by radius and offset, as one block.
_IRIS = np.concatenate([_C16 * k + off for k, off in ((1.0, 0.0), (0.8, 0.0), (0.42, 0.0), (0.2, -0.35))])


def hairline(p: IdentityParams, u: np.ndarray) -> np.ndarray:
    """y of the hairline at ``x = FACE_CX + half_w * u`` for the identity's hair style."""
    ey = p.landmarks[:2, 1].mean()
    st, yt = p.hair_style, ey - 7.0
    hy = ey - p.brow_gap - 7.5 if st == 1 else p.hairline
    y = hy + (yt - hy) * np.clip(np.abs(u) / 0.9, 0, 1) ** (4.0 if st == 1 else 2.5)
    if st == 1:  # bangs: a ragged fringe above the brows
        y = y + 1.0 * np.cos(u * 45.0)
    elif st == 2:
        y = y + p.hair_dir * (4.0 * u * (1 - np.abs(u)) + 3.0 * u)
    elif st == 3:
        y = y - 8.0 * np.exp(-(((np.abs(u) - 0.5) / 0.17) ** 2))
    elif st == 4:
        y = y + 4.5 * np.exp(-((u / 0.1) ** 2))
    return y


def outline(p: IdentityParams, t: np.ndarray, grow: float = 0.0) -> np.ndarray:
    """Face outline at angles ``t`` (0 = right cheek, pi/2 = chin) in the flat canonical frame."""
    cy, b = (p.top + p.chin) / 2.0, (p.chin - p.top) / 2.0
    s = np.sin(t)
    taper = 1.0 - p.jaw * np.maximum(s, 0.0) ** 2
    return xy(FACE_CX + (p.half_w + grow) * np.cos(t) * taper, cy + (b + grow) * s)


def _pair(f, *args) -> np.ndarray:
    """``f(sign, *args)`` for the left (-1) and right (+1) side, stacked for one fill."""
    return np.stack([f(-1.0, *args), f(1.0, *args)])


@dataclass(frozen=True, eq=False)
class IdentityShapes:
    """Cached, sample-independent display lists of one identity, in painting order slots."""

    back: Shapes  # hair behind, neck, body, ears, face, marks, beard (eyes/brows go after)
    nose: Shapes  # (mouth goes after)
    front: Shapes  # hair cap, glasses
    occ: Shapes  # ambient-occlusion shapes for the shading layer


def _beard(p: IdentityParams, back: Shapes) -> None:
    cx, a, cy, b = FACE_CX, p.half_w, (p.top + p.chin) / 2.0, (p.chin - p.top) / 2.0
    lm = p.landmarks
    ty, my, hw = lm[2, 1], lm[3:, 1].mean(), (lm[4, 0] - lm[3, 0]) / 2
    if p.beard == 2:  # goatee
        goatee = ellipse(cx, (my + p.chin) / 2 + 2.5, hw * 0.38, (p.chin - my) / 2 - 1.0)
        back.fill(goatee, mix(p.hair, p.skin, 0.25), 1.0)
        return
    dark = sum(p.hair) < 360
    col = mix(p.skin, p.hair, 0.3 if dark else 0.16) if p.beard == 1 else mix(p.hair, p.skin, 0.2)
    y0 = lm[:2, 1].mean() + 14.0
    v = min(max((y0 - cy) / b, -1.0), 1.0)
    # Inner edge: down the cheeks towards the mouth corners, then over the upper lip; the
    # knots are joined linearly and smoothed so the edge has no corners.
    d = np.linspace(-1.0, 1.0, 25) * a * 0.97
    y = np.interp(np.abs(d), [0.0, hw - 1.0, hw + 6.0, a * 0.97], [ty + 6.0, ty + 7.0, my - 1.0, y0])
    y[1:-1] = (y[:-2] + 2 * y[1:-1] + y[2:]) / 4
    inner = xy(cx + d, y)
    for grow, c in ((1.5, mix(col, p.skin, 0.5)), (0.0, col)):  # a paler rim fakes a soft edge
        t = np.linspace(math.asin(v), math.pi - math.asin(v), 16)
        jaw = outline(p, t, grow + (1.2 if p.beard == 3 else 0.0))
        ins = inner + (0.0, -grow)
        # The jaw edge is silhouette; the inner edge lies on the cheeks and moves with the face.
        back.fill(np.concatenate([jaw, ins]), c, np.r_[np.full(len(jaw), SIL), np.full(len(ins), 1.0)])


def _hair_front(p: IdentityParams, front: Shapes) -> None:
    cx, a, cy, b = FACE_CX, p.half_w, (p.top + p.chin) / 2.0, (p.chin - p.top) / 2.0
    vol = p.hair_vol
    a2, b2, cyh = a + vol, b + 1.2 * vol, cy - 0.3 * vol
    ey = p.landmarks[:2, 1].mean()
    buzz = p.hair_style == 5
    ys, yt = ey + (22.0 if p.hair_long else 4.0), ey - 7.0
    t0 = math.asin(min(max((ys - cyh) / b2, -1.0), 1.0))
    t = np.linspace(math.pi - t0, 2 * math.pi + t0, 28)
    w = p.hair_wave
    lump = 1.0 + w[0] * np.sin(3 * t + w[2]) + w[1] * np.sin(7 * t + w[3])
    u = np.linspace(0.86, -0.86, 19)
    edge = 3.0 if p.hair_long else 2.5
    right, left = [[cx + a - edge, ys], [cx + a * 0.9, yt]], [[cx - a * 0.9, yt], [cx - a + edge, ys]]
    inner = np.concatenate([right, xy(cx + a * u, hairline(p, u)), left])
    col = mix(p.skin, p.hair, 0.55) if buzz else p.hair
    cap = xy(cx + a2 * np.cos(t) * lump, cyh + b2 * np.sin(t) * lump)
    front.fill(np.concatenate([cap, inner]), col, np.r_[np.full(len(cap), SIL), np.full(len(inner), 0.5)])
    if buzz:
        return
    # Strands: low-contrast arcs from the crown to the hairline, for texture.
    sheen = mix(p.hair, (255.0, 255.0, 255.0), 0.12) if sum(p.hair) < 200 else scale(p.hair, 0.75)
    sc = mix(p.hair, sheen, 0.6)
    s0, s1 = p.strands[:, 0:1], p.strands[:, 1:2] * 0.85
    p0 = np.stack([cx + a2 * 0.35 * (0.5 * s0 + 0.6 * s1), np.full_like(s0, cyh - b2 * 0.96)], -1)
    p1 = np.stack([cx + a * s1, hairline(p, s1) - 2.0], -1)
    k = np.linspace(0.0, 1.0, 5)[None, :, None]
    bulge = np.stack([0.12 * a * np.sign(s1), np.zeros_like(s1)], -1)
    front.fill_many(ribbon(p0 + (p1 - p0) * k + bulge * 4 * k * (1 - k), 0.6), sc)


def _glasses(p: IdentityParams, front: Shapes) -> None:
    lm, cx, a = p.landmarks, FACE_CX, p.half_w
    gc, hw, hh = glasses_color(p), p.eye_w + p.glasses_w, p.glasses_h
    rim = np.sign(_C24) * np.abs(_C24) ** 0.7 * (hw, hh)
    sides = list(zip((-1.0, 1.0), lm[:2]))
    rims = [ribbon(rim + (ex, ey - 0.5), 1.2, closed=True) for _, (ex, ey) in sides]
    front.fill_many(np.concatenate(rims), gc, 5.0)
    arms = [ribbon(np.array([[ex + sg * hw, ey - 2.0], [cx + sg * (a - 0.5), ey + 1.0]]), 1.0)
            for sg, (ex, ey) in sides]
    front.fill_many(np.stack(arms), gc, 3.0)
    (x0, y0), (x1, y1) = lm[:2]
    bridge = np.array([[x0 + hw, y0 - 1.0], [(x0 + x1) / 2, (y0 + y1) / 2 - 2.5], [x1 - hw, y1 - 1.0]])
    front.fill(ribbon(bridge, 1.2), gc, 6.0)


@lru_cache(maxsize=512)  # ~20 kB each; identity-major access hits, shuffled access never would
def identity_shapes(p: IdentityParams) -> IdentityShapes:
    """Build (once) the display lists of identity ``p`` that no sample changes."""
    back, nose, front, occ = Shapes(), Shapes(), Shapes(), Shapes()
    cx, a = FACE_CX, p.half_w
    cy, b = (p.top + p.chin) / 2.0, (p.chin - p.top) / 2.0
    lm = p.landmarks
    ey = lm[:2, 1].mean()
    tx, ty = lm[2]
    nw, yc, vol = a * 0.52, p.chin + 14.0, p.hair_vol
    if p.hair_long:
        a2 = a + vol
        behind = np.array([[cx - a2, cy - 10], [cx + a2, cy - 10], [cx + a2 + 6, 150], [cx - a2 - 6, 150]])
        back.fill(behind, scale(p.hair, 0.8))
    neck = np.array([[-nw, cy + 0.4 * b], [nw, cy + 0.4 * b], [nw * 1.08, yc + 30], [-nw * 1.08, yc + 30]])
    back.fill(neck + (cx, 0.0), scale(p.skin, 0.86))
    body = np.array([[-1.1 * nw, 0], [0, 15], [1.1 * nw, 0], [2.3 * a, 14], [2.9 * a, 60], [3.2 * a, 300],
                     [-3.2 * a, 300], [-2.9 * a, 60], [-2.3 * a, 14]])
    back.fill(body + (cx, yc), "clothes")
    if p.hair_long:  # locks falling in front of the shoulders
        lock = np.array([[-6.0, cy], [vol + 2, cy], [vol + 5, yc + 40], [-2.0, yc + 40]])
        back.fill_many(_pair(lambda sg: lock * (sg, 1.0) + (cx + sg * (a + 0.5), 0.0)), scale(p.hair, 0.9))
    ear = _pair(lambda sg: ellipse(cx + sg * (a - 0.5), ey + 10.0, 4.5 * p.ear, 9.5 * p.ear))
    back.fill_many(ear, scale(p.skin, 0.92))
    inner_ear = _pair(lambda sg: ellipse(cx + sg * (a + 1.2), ey + 10.0, 1.8 * p.ear, 5.0 * p.ear))
    back.fill_many(inner_ear, scale(p.skin, 0.72))
    back.fill(outline(p, np.linspace(0, 2 * np.pi, 40, endpoint=False)), p.skin)
    for marks, k in ((p.moles, 0.45), (p.freckles, 0.8)):
        back.fill_many(marks[:, None, :2] + marks[:, None, 2:] * _C8[None], scale(p.skin, k), 0.0)
    if p.beard:
        _beard(p, back)

    ala = np.array([[0.3, 3.2], [0.95, 2.4], [1.08, -0.3], [0.8, -3.0]])
    sw, nr = p.nose_w, p.nostril
    alae = _pair(lambda sg: ribbon(ala * (sg * sw, 1.0) + (tx, ty), 0.8))
    nose.fill_many(alae, scale(p.skin, 0.7), p.nose_z * 0.3)
    nostril = _pair(lambda sg: ellipse(tx + sg * sw * 0.5, ty + 2.0, nr * 1.3, nr * 0.7, _C8, -sg * 0.26))
    nose.fill_many(nostril, scale(p.skin, 0.32), p.nose_z * 0.55)

    _hair_front(p, front)
    if p.glasses:
        _glasses(p, front)

    occ.fill(ellipse(cx, p.chin + 7.0, a * 0.75, 9.0), 0.45)
    sockets = np.stack([ellipse(ex, y - 1.5, p.eye_w + 3.5, p.eye_h + 4.5) for ex, y in lm[:2]])
    occ.fill_many(sockets, p.socket, -1.0)
    ridge = np.array([[2.0, ey + 1.0], [4.5, ey + 1.0], [sw + 1.5, ty + 1.0], [sw * 0.4, ty + 1.5]])
    for sg, slot in ((-1.0, "ridge_l"), (1.0, "ridge_r")):
        occ.fill(ridge * (sg, 1.0) + (tx, 0.0), slot, p.nose_z * 0.4)
    occ.fill(ellipse(tx, ty + 4.5, sw * 0.9, 1.8), 0.28, p.nose_z * 0.3)
    occ.fill(ellipse(tx, ty - 2.5, 2.2, 3.0), -0.12, p.nose_z * 0.9)
    return IdentityShapes(back.packed(), nose.packed(), front.packed(), occ.packed())


def _eye_lists(p: IdentityParams, o: float, raise_: float) -> Tuple[Shapes, Shapes]:
    """Sclera, and lids + brows, for eye openness ``o`` and brow raise ``raise_``."""
    w, lm = p.eye_w, p.landmarks

    def curves(sg: float) -> tuple:
        ex, ey = lm[int(sg > 0)]  # sg +1: the right eye, its outer corner towards +x
        x = ex + w * _L13
        tilt = ey - p.eye_tilt * w * sg * _L13
        return x, tilt - p.eye_h * o * _EYE_UP, tilt + p.eye_h * (0.3 + 0.3 * o) * _EYE_LO

    (xl, ul, ll), (xr, ur, lr) = curves(-1.0), curves(1.0)
    wl = np.array([[xl[0] - 1.4, ul[0] - 0.7]])  # the lash line flicks out at the outer corners
    wr = np.array([[xr[-1] + 1.4, ur[-1] - 0.7]])
    lash = np.stack([
        ribbon(np.concatenate([wl, xy(xl, ul)]), p.lash_w * np.r_[0.3, _LASH]),
        ribbon(np.concatenate([xy(xr, ur), wr]), p.lash_w * np.r_[_LASH, 0.3]),
    ])
    lid = ribbon(np.stack([xy(xl, ll), xy(xr, lr)]), 0.6)
    lift = p.eye_h * 0.8 + 1.6
    crease = ribbon(np.stack([xy(xl[2:-2], ul[2:-2] - lift), xy(xr[2:-2], ur[2:-2] - lift)]), 0.6)
    bx = lm[:2, :1] + _SIDES * w * (2.4 * _L9 - 0.95)
    yc = lm[:2, 1:] - p.brow_gap - raise_ - p.brow_arch * _BROW_ARC - p.brow_slope * _L9
    th = p.brow_w * _BROW_TH / 2
    brows = np.concatenate([np.stack([bx, yc - th], -1), np.stack([bx, yc + th], -1)[:, ::-1]], 1)

    sclera, lids = Shapes(), Shapes()
    white = mix((238.0, 232.0, 226.0), p.skin, 0.12)
    sclera.fill_many(np.stack([band(xl, ul, ll), band(xr, ur, lr)]), white, EYE_DZ)
    lids.fill_many(lash, (28.0, 20.0, 18.0), EYE_DZ)
    lids.fill_many(lid, scale(p.skin, 0.72), EYE_DZ)
    lids.fill_many(crease, scale(p.skin, 0.8), EYE_DZ + 1)
    lids.fill_many(brows, p.brow, 1.0)
    return sclera.packed(), lids.packed()


@lru_cache(maxsize=512)
def _eye_basis(p: IdentityParams) -> tuple:
    # Every eye/brow point is affine in (openness, brow raise) (ribbon normals nearly so),
    # so two builds per identity give a basis; a raise just lifts the brows, which are the
    # last fill of the lids list.
    s0, l0 = _eye_lists(p, 0.0, 0.0)
    s1, l1 = _eye_lists(p, 1.0, 0.0)
    d_raise = np.zeros_like(l0.pts[0])
    k, n, _ = l0.cmds[-1]
    d_raise[-k * n :, 1] = -1.0
    return s0, l0, s1.pts[0] - s0.pts[0], l1.pts[0] - l0.pts[0], d_raise


def eyes(G: FaceGeometry) -> Tuple[Shapes, Shapes, Shapes]:
    """Sample-dependent sclera, iris (gaze, clipped to the lids) and lids + brows."""
    p, s = G.p, G.s
    s0, l0, d_sclera, d_lids, d_raise = _eye_basis(p)
    o = s.eye_open
    sclera = s0.with_points(s0.pts[0] + o * d_sclera)
    lids = l0.with_points(l0.pts[0] + o * d_lids + s.brow_raise * d_raise)
    iris = Shapes()
    if o > 0.2:
        w, lm = p.eye_w, p.landmarks[:2]
        ex, ey = lm[:, :1], lm[:, 1:]
        pts = _IRIS[None] * (p.iris_r * w) + (lm + (s.gaze[0] * w, s.gaze[1] * p.eye_h))[:, None]
        t = np.clip((pts[..., 0] - ex) / w, -1.0, 1.0)
        q = 1.0 - t * t
        tilt = ey - (p.eye_tilt * w) * _SIDES * t
        y = np.clip(pts[..., 1], tilt - p.eye_h * o * q**0.6, tilt + p.eye_h * (0.3 + 0.3 * o) * q**0.8)
        polys = np.stack([ex + t * w, y], -1).reshape(2, 4, 16, 2)
        for j, col in enumerate((scale(p.iris, 0.55), p.iris, (12.0, 10.0, 12.0), (250.0, 250.0, 250.0))):
            iris.fill_many(polys[:, j], col, EYE_DZ)
    return sclera, iris.packed(), lids


def _mouth_lists(p: IdentityParams, smile: float, gap_k: float, variant: int) -> Tuple[Shapes, Shapes]:
    """Lips (+ mustache) and the under-lip shadow; ``variant`` 0 closed, 1 open, 2 open + teeth."""
    sh, occ = Shapes(), Shapes()
    lm = p.landmarks
    lx, ly = lm[3] + (-1.6 * smile, -3.0 * smile)  # the same smile shift as FaceGeometry.mouth
    rx, ry = lm[4] + (1.6 * smile, -3.0 * smile)
    t, q = _L15, 1.0 - _L15**2
    x = (lx + rx) / 2 + (rx - lx) / 2 * t
    ym = ly + (ry - ly) * (t + 1) / 2 + smile * 3.0 * q
    yu = ym - p.lip_u * np.sqrt(q) * (1 - 0.3 * np.exp(-((t / 0.15) ** 2))) - 0.3 * q
    gap = gap_k * 6.0 * q**0.8
    yl = ym + gap + p.lip_l * q**0.6
    if p.mustache:
        top = max(lm[2, 1] + 5.0, min(lm[3, 1], lm[4, 1]) - p.lip_u - 6.0) + 2.5 * t**2
        stache = band(x * 1.1 - 0.1 * x.mean(), top, yu - 0.3 + 2.0 * t**4)
        sh.fill(stache, mix(p.hair, p.skin, 0.15), MOUTH_DZ + 1)
    if variant:
        sh.fill(band(x, ym, ym + gap), (48.0, 18.0, 22.0), MOUTH_DZ)
        if variant == 2:
            m = np.abs(t) < 0.75
            sh.fill(band(x[m], ym[m], ym[m] + 0.4 * gap[m]), (222.0, 216.0, 200.0), MOUTH_DZ)
    sh.fill(band(x, ym + gap, yl), p.lip, MOUTH_DZ)
    sh.fill(band(x, yu, ym), scale(p.lip, 0.88), MOUTH_DZ)
    if not variant:
        sh.fill(ribbon(xy(x, ym), 0.9), scale(p.lip, 0.45), MOUTH_DZ)
    occ.fill(ellipse(x.mean(), yl[7] + 3.5, (rx - lx) * 0.25, 2.2), 0.22, 0.0)
    return sh.packed(), occ.packed()


@lru_cache(maxsize=1024)
def _mouth_basis(p: IdentityParams, variant: int) -> tuple:
    # Mouth points are affine in (smile, opening) for a fixed set of shapes, as the eyes are.
    (a, ao), (b, bo), (c, co) = (_mouth_lists(p, sm, op, variant) for sm, op in ((0, 0), (1, 0), (0, 1)))
    return a, ao, b.pts[0] - a.pts[0], c.pts[0] - a.pts[0], bo.pts[0] - ao.pts[0], co.pts[0] - ao.pts[0]


def mouth(G: FaceGeometry) -> Tuple[Shapes, Shapes]:
    """Sample-dependent lips, teeth and mustache, plus the under-lip shadow for the gain map."""
    o, sm = G.s.mouth_open, G.s.smile
    a, ao, ds, do, dso, doo = _mouth_basis(G.p, 0 if o <= 0.05 else (1 if o <= 0.25 else 2))
    return a.with_points(a.pts[0] + sm * ds + o * do), ao.with_points(ao.pts[0] + sm * dso + o * doo)
