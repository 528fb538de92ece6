"""Random parameters of synthetic faces: who a face is (identity) and how it is seen (sample).

Kept apart from the drawing code so the renderer (:mod:`lrface.data.synthetic.render`)
only turns numbers into pixels. All geometry is in the *canonical frame*: the 112x112 ArcFace
crop coordinates, where the mean face's eye centres, nose tip and mouth corners sit exactly on
:data:`lrface.face.align.ARCFACE_TEMPLATE_112`; identities move them by a few pixels.

Randomness is keyed, never sequential: identity ``k`` under ``seed`` always draws from the same
:class:`numpy.random.SeedSequence`, so an item never depends on which items were made before it.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Sequence, Tuple

import numpy as np

from lrface.face.align import ARCFACE_TEMPLATE_112

Color = Tuple[float, float, float]

#: Horizontal centre of the canonical face (between the template eyes and on the nose).
FACE_CX = 56.0

# Skin anchors from very light to very dark (RGB); a tone in [0, 1] interpolates along them.
_SKIN = np.array(
    [[246, 214, 192], [228, 180, 150], [198, 145, 110], [160, 108, 74], [112, 72, 48], [70, 45, 33]],
    dtype=np.float64,
)
# Hair colours and how common they are: black, dark brown, brown, light brown, blonde,
# auburn, grey, white.
_HAIR = np.array(
    [[22, 18, 16], [50, 34, 25], [88, 60, 38], [135, 100, 66], [200, 165, 105], [140, 62, 32],
     [128, 126, 122], [212, 210, 204]],
    dtype=np.float64,
)
_HAIR_P = np.array([0.26, 0.22, 0.16, 0.1, 0.1, 0.06, 0.06, 0.04])
# Iris colours: dark brown, brown, hazel, green, blue, grey.
_IRIS = np.array(
    [[45, 28, 18], [88, 54, 30], [118, 92, 50], [76, 104, 66], [72, 112, 160], [108, 118, 128]],
    dtype=np.float64,
)
_IRIS_P = np.array([0.3, 0.3, 0.12, 0.08, 0.12, 0.08])
_GLASSES = np.array([[28, 26, 30], [150, 140, 120], [92, 56, 32], [40, 40, 90]], dtype=np.float64)

#: Hair styles: index -> name (the renderer switches on the index).
HAIR_STYLES = ("rounded", "bangs", "side_swept", "receding", "widows_peak", "buzz")


def _col(c: Sequence[float]) -> Color:
    r, g, b = (min(255.0, max(0.0, float(v))) for v in c)
    return (r, g, b)


# Pure-Python colour arithmetic: a few hundred small numpy calls per identity would cost more
# than the maths.
def mix(a: Color, b: Color, t: float) -> Color:
    """Linear blend ``(1 - t) * a + t * b`` of two RGB colours."""
    return _col([(1.0 - t) * x + t * y for x, y in zip(a, b)])


def scale(c: Color, k: float) -> Color:
    """An RGB colour multiplied by ``k`` (clipped to [0, 255])."""
    return _col([x * k for x in c])


@dataclass(frozen=True, eq=False)
class IdentityParams:
    """Everything that stays fixed across one identity's samples (canonical-frame pixels).

    Landmark-bearing fields are offsets from the template so that the mean identity is
    exactly aligned; the rest are absolute sizes and colours.
    """

    top: float  # top of the skull (y)
    chin: float  # bottom of the chin (y)
    half_w: float  # half-width of the head at cheek level
    jaw: float  # 0..1, how much the lower face narrows towards the chin
    depth: float  # depth of the head ellipsoid (z semi-axis), drives yaw parallax
    skin: Color
    eye_dx: float  # each eye moves outwards by this much (wider-set eyes > 0)
    eye_dy: float
    eye_w: float  # half-width of the eye opening
    eye_h: float  # upper-lid height of the opening
    eye_tilt: float  # slope of the eye axis, outer corner up > 0
    iris: Color
    iris_r: float
    lash_w: float
    socket: float  # darkness of the eye sockets in the shading layer
    brow_gap: float  # eye centre to brow centre line
    brow_w: float  # thickness
    brow_arch: float
    brow_slope: float  # outer end up > 0 (pixels over the brow length)
    brow: Color
    nose_dy: float
    nose_w: float  # half-width of the nostrils
    nostril: float
    nose_z: float  # how far the tip sticks out (parallax under yaw)
    mouth_dx: float  # each mouth corner moves outwards by this much
    mouth_dy: float
    lip_u: float
    lip_l: float
    lip: Color
    hair: Color
    hair_style: int  # index into HAIR_STYLES
    hairline: float  # y of the hairline at the forehead centre
    hair_vol: float  # how far the hair stands off the skull
    hair_long: bool
    hair_dir: float  # -1/+1: side of the parting for swept styles
    strands: np.ndarray  # (K, 2) x-offsets (start, end) of darker strands, texture
    hair_wave: np.ndarray  # (4,) amplitude, amplitude, phase, phase of the hair outline's lumps
    ear: float  # ear size factor
    beard: int  # 0 none, 1 stubble, 2 goatee, 3 full
    mustache: bool
    glasses: int  # 0 none, else 1 + index into the frame colours
    glasses_w: float
    glasses_h: float
    moles: np.ndarray  # (K, 3) x, y, radius
    freckles: np.ndarray  # (K, 3) x, y, radius (empty for most people)

    @cached_property
    def landmarks(self) -> np.ndarray:
        """(5, 2) neutral frontal landmarks of this identity in the canonical frame (read-only)."""
        lm = ARCFACE_TEMPLATE_112.copy()
        lm[0] += (-self.eye_dx, self.eye_dy)
        lm[1] += (self.eye_dx, self.eye_dy)
        lm[2] += (0.0, self.nose_dy)
        lm[3] += (-self.mouth_dx, self.mouth_dy)
        lm[4] += (self.mouth_dx, self.mouth_dy)
        lm.flags.writeable = False  # cached and shared: guard against in-place edits
        return lm


@dataclass(frozen=True)
class SampleParams:
    """How one photo of an identity differs from the others: pose, expression, light, camera."""

    roll: float  # degrees, in-plane rotation left after alignment (alignment noise)
    yaw: float  # degrees, positive turns the face towards +x
    pitch: float  # degrees, positive tilts the face down
    scale: float  # residual scale jitter after alignment
    shift: Tuple[float, float]  # residual translation (canonical pixels)
    smile: float  # 0..1, mouth corners up and out
    mouth_open: float  # 0..1
    eye_open: float  # ~0.1 (blink) .. 1.15
    brow_raise: float  # pixels
    gaze: Tuple[float, float]  # iris offset as a fraction of the eye half-width / height
    light: Tuple[float, float, float]  # unit light direction (x right, y down, z to camera)
    ambient: float
    brightness: float
    gains: Tuple[float, float, float]  # white balance / colour temperature per channel
    noise: float  # sensor noise sigma (output pixels, 0..255 scale)
    clothes: Color


def _check_index(name: str, value: int) -> int:
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def sample_rng(seed: int, identity: int, sample: int) -> np.random.Generator:
    """The generator for one (seed, identity, sample) item; independent of all other items."""
    ss = np.random.SeedSequence(
        [_check_index("seed", seed), _check_index("identity", identity), _check_index("sample", sample)]
    )
    return np.random.default_rng(ss)


def identity_rng(seed: int, identity: int) -> np.random.Generator:
    """The generator for an identity's parameters.

    A spawn key keeps it apart from every :func:`sample_rng` stream: SeedSequence pads short
    entropy with zeros, so ``[seed, identity]`` alone would equal ``[seed, identity, 0]``.
    """
    ss = np.random.SeedSequence(
        [_check_index("seed", seed), _check_index("identity", identity)], spawn_key=(1,)
    )
    return np.random.default_rng(ss)


def _darker_than(c: Color, ref: Color, k: float) -> Color:
    """``c`` scaled down, if needed, to at most ``k`` times the brightness of ``ref``.

    Brows (and lashes) read as darker than the skin around them even for fair hair on dark
    skin; a face detector relies on that contrast, and so do people.
    """
    lum, ref_lum = sum(c), sum(ref)
    return c if lum <= k * ref_lum else scale(c, k * ref_lum / max(lum, 1e-6))


class _Draws:
    """Hands out uniforms from one vector draw, in a fixed order (scalar RNG calls are slow)."""

    def __init__(self, r: np.random.Generator, n: int) -> None:
        self._v, self._i = r.random(n).tolist(), 0

    def __call__(self, lo: float = 0.0, hi: float = 1.0) -> float:
        v = self._v[self._i]
        self._i += 1
        return lo + (hi - lo) * v

    def pick(self, p: Sequence[float]) -> int:
        """A category index drawn with probabilities ``p``."""
        x, acc = self(), 0.0
        for k, pk in enumerate(p):
            acc += pk
            if x < acc:
                return k
        return len(p) - 1


@lru_cache(maxsize=4096)
def identity_params(seed: int, identity: int) -> IdentityParams:
    """Draw (and cache) the parameters of identity ``identity`` under ``seed``.

    Example:
        >>> p = identity_params(0, 3)
        >>> p is identity_params(0, 3), p.landmarks.shape
        (True, (5, 2))
    """
    r = identity_rng(seed, identity)
    u = _Draws(r, 64)
    jit = r.normal(0.0, 1.0, 6)  # colour jitter of hair and iris
    marks = r.random((4, 3))  # moles: always drawn, so the draw order never depends on counts
    frk = r.standard_normal((40, 3))  # freckles
    strands, wave = r.uniform(-0.9, 0.9, (10, 2)), r.random(4)

    tone = u(0.0, len(_SKIN) - 1.0)
    i = min(int(tone), len(_SKIN) - 2)
    skin = _SKIN[i] + (tone - i) * (_SKIN[i + 1] - _SKIN[i])
    # Undertone: warmer/redder or more olive, so equal tones still differ a little.
    skin = skin + np.array([u(-6, 10), u(-8, 6), u(-10, 4)]) * (0.5 + skin.mean() / 255.0)
    skin_c = _col(skin)
    hair = _col(_HAIR[u.pick(_HAIR_P)] + 6.0 * jit[:3])
    iris = _col(_IRIS[u.pick(_IRIS_P)] + 5.0 * jit[3:])
    darker = mix(hair, (20.0, 15.0, 12.0), 0.25 if sum(hair) < 300 else 0.55)
    half_w = u(35.0, 42.0)
    style = u.pick([0.3, 0.16, 0.2, 0.12, 0.1, 0.12])
    beard = u.pick([0.62, 0.16, 0.08, 0.14])
    frame = 1 + u.pick([0.25] * 4)  # drawn either way, so later draws never shift
    glasses = frame if u() < 0.18 else 0
    n_moles = u.pick([0.35, 0.3, 0.18, 0.12, 0.05])
    side = np.where(marks[:n_moles, 0] < 0.5, -1.0, 1.0)
    mk = marks[:n_moles]
    moles = np.column_stack([FACE_CX + side * (9 + 19 * mk[:, 1]), 58 + 44 * mk[:, 2], 0.6 + 0.7 * mk[:, 0]])
    n_frk = 40 if u() < 0.15 else 0
    fk = frk[:n_frk]
    radius = 0.5 + 0.08 * np.clip(fk[:, 2], -1.8, 1.8)
    freckles = np.column_stack([FACE_CX + 14 * fk[:, 0], 70 + 6 * fk[:, 1], radius])
    return IdentityParams(
        top=u(-9.0, 1.0),
        chin=u(105.0, 114.0),
        half_w=half_w,
        jaw=u(0.08, 0.38),
        depth=half_w * u(0.9, 1.1),
        skin=skin_c,
        eye_dx=u(-2.5, 2.5),
        eye_dy=u(-2.0, 2.0),
        eye_w=u(5.6, 8.0),
        eye_h=u(2.8, 4.2),
        eye_tilt=u(-0.12, 0.18),
        iris=iris,
        iris_r=u(0.42, 0.52),
        lash_w=u(1.1, 2.0),
        socket=u(0.1, 0.3),
        brow_gap=u(8.5, 12.5),
        brow_w=u(1.6, 4.2),
        brow_arch=u(0.5, 3.2),
        brow_slope=u(-2.0, 2.5),
        brow=_darker_than(mix(darker, skin_c, u(0.0, 0.25)), skin_c, 0.7),
        nose_dy=u(-2.5, 2.5),
        nose_w=u(4.5, 7.5),
        nostril=u(1.2, 2.3),
        nose_z=u(7.0, 14.0),
        mouth_dx=u(-2.5, 2.5),
        mouth_dy=u(-2.0, 2.0),
        lip_u=u(1.6, 3.4),
        lip_l=u(2.4, 4.6),
        lip=mix(scale(skin_c, 0.8), (170.0, 70.0, 75.0), u(0.2, 0.45)),
        hair=hair,
        hair_style=style,
        hairline=u(17.0, 27.0),
        hair_vol=u(1.5, 9.0) if style != 5 else u(0.5, 1.5),
        hair_long=u() < 0.3 and style != 5,
        hair_dir=-1.0 if u() < 0.5 else 1.0,
        strands=strands,
        hair_wave=np.concatenate([0.05 * wave[:2], 2 * np.pi * wave[2:]]),
        ear=u(0.85, 1.15),
        beard=beard,
        mustache=u() < (0.7 if beard in (2, 3) else 0.06),
        glasses=glasses,
        glasses_w=u(3.2, 5.5),
        glasses_h=u(6.0, 8.5),
        moles=moles,
        freckles=freckles,
    )


def glasses_color(p: IdentityParams) -> Color:
    """Frame colour of ``p.glasses`` (meaningless when ``p.glasses == 0``)."""
    return _col(_GLASSES[max(p.glasses - 1, 0)])


def sample_params(r: np.random.Generator) -> SampleParams:
    """Draw one sample's pose, expression, lighting and camera from ``r``.

    Always consumes the same number of draws, so whatever a caller draws afterwards from ``r``
    (background, scene placement) is itself reproducible.
    """
    # Three vector draws instead of ~25 scalar ones: scalar Generator calls cost microseconds each.
    v = r.random(22)
    nrm = r.standard_normal(2)
    clothes = r.uniform(15.0, 225.0, 3)

    def u(i: int, lo: float, hi: float) -> float:
        return float(lo + (hi - lo) * v[i])

    az, el = u(0, 0.0, 2.0 * np.pi), np.radians(u(1, 0.0, 60.0))
    lx, ly, lz = np.sin(el) * np.cos(az), np.sin(el) * np.sin(az), np.cos(el)
    if v[2] < 0.8:  # light mostly comes from above (y up = negative)
        ly = -abs(ly)
    temp, tint = u(3, -1.0, 1.0), u(4, -1.0, 1.0)
    return SampleParams(
        roll=u(5, -4.0, 4.0),
        yaw=float(np.clip(10.0 * nrm[0], -25.0, 25.0)),
        pitch=float(np.clip(4.0 * nrm[1], -10.0, 10.0)),
        scale=float(np.exp(u(6, -0.04, 0.04))),
        shift=(u(7, -1.5, 1.5), u(8, -1.5, 1.5)),
        smile=float(v[9] ** 2),
        mouth_open=u(10, 0.1, 1.0) if v[11] < 0.3 else 0.0,
        eye_open=0.12 if v[12] < 0.04 else u(13, 0.6, 1.15),
        brow_raise=u(14, -1.0, 2.5),
        gaze=(u(15, -0.25, 0.25), u(16, -0.15, 0.15)),
        light=(float(lx), float(ly), float(lz)),
        ambient=u(17, 0.35, 0.65),
        brightness=u(18, 0.75, 1.2),
        gains=(1.0 + 0.1 * temp, 1.0 + 0.03 * tint, 1.0 - 0.12 * temp),
        noise=u(19, 0.5, 5.0),
        clothes=_col(clothes),
    )
