"""Procedural synthetic face identities, so training, distillation, benchmarks and demos run offline.

An *identity* is a parameter vector (head shape, skin tone, eyes, brows, nose, mouth, hair
style and colour, beard, glasses, moles) drawn from a keyed RNG; a *sample* of it varies pose
(roll, yaw, pitch, scale), expression (smile, open mouth, eye openness, brow raise), lighting
(direction, ambient level, brightness, colour temperature), background and sensor noise.

* :func:`render_face` gives a pre-aligned crop whose five landmarks sit on the ArcFace template
  (up to the sample's residual alignment jitter) plus the true landmarks.
* :func:`render_scene` gives an unaligned "photo": the face at a random place, angle and size in
  a larger canvas, with its landmarks in canvas coordinates.
* :class:`SyntheticFaces` is a map-style dataset over aligned crops;
  :func:`write_identity_folders` writes a raw identity-folder tree (the input of
  ``lrface-prepare``) with a ``landmarks.csv``.

Every item is a pure function of ``(seed, identity, sample)`` (numpy ``SeedSequence``), so it
does not depend on how many items are requested or in which order.

Example:
    >>> ds = SyntheticFaces(num_identities=3, images_per_identity=2, size=32)
    >>> img, label = ds[5]
    >>> img.shape, img.dtype, label
    ((32, 32, 3), dtype('uint8'), 2)
"""
from __future__ import annotations

import csv
import math
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from lrface.data.synthetic_params import identity_params, sample_params, sample_rng
from lrface.data.synthetic_render import FaceGeometry
from lrface.data.synthetic_shading import render
from lrface.face.align import ARCFACE_TEMPLATE_112, template_for, transform_points

__all__ = ["SyntheticFaces", "render_face", "render_scene", "write_identity_folders"]

_IOD_112 = float(np.linalg.norm(ARCFACE_TEMPLATE_112[1] - ARCFACE_TEMPLATE_112[0]))
# Rough extent of the painted head (hair to chin, ear to ear) in the canonical frame, used to
# keep a scene's face inside its canvas.
_HEAD_CENTRE, _HEAD_HALF = np.array([56.0, 60.0]), np.array([46.0, 56.0])


def _supersample(size: int) -> int:
    # Small outputs are drawn at >= 112 px and area-averaged (an integer factor makes
    # INTER_AREA an exact box filter), so thin strokes keep their weight at 16 px; at 112 px
    # and above cv2's anti-aliased fills are smooth enough on their own, and drawing at 2x
    # would cost ~30% more time.
    return max(1, math.ceil(112 / size))


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


def _fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity ``src -> dst`` (2-D closed form of Umeyama, no SVD needed)."""
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    n = (s * s).sum()
    a = (s * d).sum() / n
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / n
    rs = np.array([[a, -b], [b, a]])
    return np.hstack([rs, (md - rs @ ms)[:, None]])


def _check_size(size: int, name: str = "size") -> int:
    try:
        s = operator.index(size)
    except TypeError:
        raise TypeError(f"{name} must be an integer number of pixels, got {size!r}") from None
    if s < 8:
        raise ValueError(f"{name} must be >= 8 pixels, got {s}")
    return s


def render_face(identity: int, sample: int, seed: int = 0, size: int = 112) -> Tuple[np.ndarray, np.ndarray]:
    """Render one pre-aligned face crop.

    The face is posed and lit, then aligned the way a detector + 5-point alignment would do it
    (least-squares similarity of its posed landmarks onto the template), then given a small
    residual roll/scale/shift (alignment noise), so landmarks land *near*, not exactly on, the
    template.

    Args:
        identity: identity index (>= 0).
        sample: sample index within the identity (>= 0).
        seed: dataset seed (>= 0); different seeds give unrelated identities.
        size: output side in pixels; the template is :func:`lrface.face.align.template_for`.

    Returns:
        ``(image, landmarks)``: (size, size, 3) uint8 RGB and (5, 2) float32 true landmarks
        (left eye, right eye, nose tip, left mouth corner, right mouth corner) in pixels.

    Example:
        >>> img, lm = render_face(0, 0, size=112)
        >>> img.shape, lm.shape
        ((112, 112, 3), (5, 2))
    """
    size = _check_size(size)
    p = identity_params(seed, identity)
    r = sample_rng(seed, identity, sample)
    s = sample_params(r)
    G = FaceGeometry(p, s)
    tpl = template_for(size)
    k = size / 112.0
    jitter = _similarity(s.scale, s.roll, tpl.mean(0), tpl.mean(0) + k * np.asarray(s.shift))
    m = _compose(jitter, _fit_similarity(G.landmarks, tpl))
    ss = _supersample(size)
    img = render(_background(r, size, size, ss, 4, texture=False), ss, m, G, r)
    return img, transform_points(G.landmarks, m).astype(np.float32)


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
    m = _compose(place, _fit_similarity(G.landmarks, ARCFACE_TEMPLATE_112))
    ss = 2  # scene faces are small (tens of pixels): draw at 2x so their features stay crisp
    img = render(_background(r, h, w, ss, 2), ss, m, G, r)
    return img, transform_points(G.landmarks, m).astype(np.float32)


@dataclass(frozen=True)
class SyntheticFaces:
    """Map-style dataset of pre-aligned synthetic faces: item ``i`` is identity
    ``i // images_per_identity``, sample ``i % images_per_identity``.

    Args:
        num_identities: number of identities (labels ``0 .. num_identities - 1``).
        images_per_identity: samples per identity.
        size: output side in pixels (template scaled by ``template_for(size)``).
        seed: dataset seed; two datasets with the same seed share identities.

    Example:
        >>> ds = SyntheticFaces(num_identities=2, images_per_identity=3, size=16)
        >>> x, y = ds.arrays()
        >>> x.shape, y.tolist()
        ((6, 16, 16, 3), [0, 0, 0, 1, 1, 1])
    """

    num_identities: int = 100
    images_per_identity: int = 10
    size: int = 112
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("num_identities", "images_per_identity", "size", "seed"):
            operator.index(getattr(self, name))  # TypeError for floats and strings, early
        if self.num_identities < 1 or self.images_per_identity < 1:
            raise ValueError("num_identities and images_per_identity must be >= 1")
        _check_size(self.size)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")

    def __len__(self) -> int:
        return self.num_identities * self.images_per_identity

    def _split(self, i: int) -> Tuple[int, int]:
        i = operator.index(i)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {n} items")
        return divmod(i, self.images_per_identity)

    def __getitem__(self, i: int) -> Tuple[np.ndarray, int]:
        """``(image, label)``: (size, size, 3) uint8 RGB and the identity index."""
        ident, smp = self._split(i)
        return render_face(ident, smp, self.seed, self.size)[0], ident

    def landmarks(self, i: int) -> np.ndarray:
        """(5, 2) float32 true landmarks of item ``i`` in output pixels."""
        ident, smp = self._split(i)
        return render_face(ident, smp, self.seed, self.size)[1]

    @property
    def labels(self) -> np.ndarray:
        """(N,) int64 identity label of every item, without rendering."""
        return np.arange(len(self), dtype=np.int64) // self.images_per_identity

    def arrays(self, indices: Optional[Iterable[int]] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Render items (all by default) into ``(N, H, W, 3) uint8`` images and ``(N,) int64`` labels."""
        idx = range(len(self)) if indices is None else [operator.index(i) for i in indices]
        x = np.empty((len(idx), self.size, self.size, 3), np.uint8)
        y = np.empty(len(idx), np.int64)
        for k, i in enumerate(idx):
            x[k], y[k] = self[i]
        return x, y


def write_identity_folders(
    root: Union[str, Path],
    num_identities: int = 10,
    images_per_identity: int = 5,
    seed: int = 0,
    scene: bool = True,
    canvas: Sequence[int] = (160, 160),
    size: int = 112,
    face_px: float = 60.0,
) -> Path:
    """Write a raw identity-folder dataset (the input layout of ``lrface-prepare SRC DST``).

    Layout: ``root/id_0000/id_0000_0001.jpg`` ... (JPEG quality 95, file numbers start at 1 as
    in LFW) and ``root/landmarks.csv`` with columns ``path,x1,y1,...,x5,y5`` (``path`` relative
    to ``root``, POSIX separators; landmarks in image pixels).

    Args:
        root: output folder (created if missing; existing files with the same names are replaced).
        num_identities: identities to write.
        images_per_identity: images per identity.
        seed: dataset seed.
        scene: ``True`` writes unaligned :func:`render_scene` canvases, ``False`` aligned
            :func:`render_face` crops of ``size``.
        canvas: ``(height, width)`` of scene images.
        size: side of aligned crops when ``scene`` is ``False``.
        face_px: nominal face width in scenes (see :func:`render_scene`).

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     out = write_identity_folders(d, num_identities=2, images_per_identity=1)
        ...     sorted(p.name for p in out.iterdir())
        ['id_0000', 'id_0001', 'landmarks.csv']
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for ident in range(num_identities):
        folder = root / f"id_{ident:04d}"
        folder.mkdir(exist_ok=True)
        for smp in range(images_per_identity):
            if scene:
                img, lm = render_scene(ident, smp, seed, (int(canvas[0]), int(canvas[1])), face_px)
            else:
                img, lm = render_face(ident, smp, seed, size)
            path = folder / f"{folder.name}_{smp + 1:04d}.jpg"
            bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise OSError(f"could not write {path}")
            rows.append([path.relative_to(root).as_posix()] + [f"{v:.3f}" for v in lm.reshape(-1)])
    with open(root / "landmarks.csv", "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["path"] + [f"{c}{k}" for k in range(1, 6) for c in "xy"])
        wr.writerows(rows)
    return root
