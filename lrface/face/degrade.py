"""The one low-resolution pipeline, shared by training, evaluation and the public API.

Every low-resolution (LR) face in lrface is produced by :func:`degrade`, so the
degradation seen in training can never silently differ from the one used in evaluation.
The chain mimics a camera, and quantises to uint8 wherever a real camera would:

    optical blur (at HR) -> resample to ``res`` (kernel, antialias) -> uint8
    -> sensor noise -> uint8 -> JPEG -> optional resize back (e.g. to 112) -> uint8

Resampling is separable: for a batch ``X`` of shape (N, H, W, 3) the output is
``A_h @ X @ A_w^T`` with exact, cached weight matrices, so a whole batch is one pair of
matrix products. Blur is folded into the same matrices (``A_h G_h``), since optics act
before the sensor samples and there is no quantisation in between.

Kernel conventions (chosen to match well-known references):

* ``"area"``: exact fractional box averaging over each output pixel's footprint
  (what ``cv2.resize(..., interpolation=cv2.INTER_AREA)`` does when shrinking).
* ``"bicubic"`` / ``"bilinear"`` with ``antialias=True``: kernel support stretched by the
  shrink factor, edge taps dropped and weights renormalised, bicubic ``a = -0.5``:
  the convention of ``PIL.Image.resize`` and ``torch.nn.functional.interpolate(...,
  antialias=True)``.
* ``"bicubic"`` / ``"bilinear"`` with ``antialias=False``: unstretched kernel, replicated
  border, bicubic ``a = -0.75``: ``cv2.INTER_CUBIC`` / ``cv2.INTER_LINEAR`` (and torch
  with ``antialias=False``).
* ``"nearest"``: the source pixel under each output pixel centre, computed exactly (a centre
  falling exactly on a pixel boundary takes the later pixel); equals
  ``cv2.INTER_NEAREST_EXACT`` except at such ties. Never antialiased.

The optional final resize (``upsample``) always uses the unstretched (cv2) convention, so
``Degradation(kernel="area", upsample=112)`` reproduces the common "INTER_AREA down,
INTER_CUBIC back up" baseline.

Randomness (blur sigma, noise, JPEG quality drawn from ranges) is seeded per image: the
draws for image ``i`` depend only on ``(seed, i)``, never on the rest of the batch.

Example:
    >>> import numpy as np
    >>> hr = np.full((112, 112, 3), 128, np.uint8)
    >>> degrade(hr, 16).shape
    (16, 16, 3)
    >>> degrade(hr[None].repeat(4, 0), 12, "surveillance", seed=1).shape
    (4, 12, 12, 3)
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import math
import sys
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from lrface.registry import Registry

logger = logging.getLogger(__name__)

KERNELS: Tuple[str, ...] = ("area", "bicubic", "bilinear", "nearest")
Range = Union[float, Tuple[float, float]]
SizeLike = Union[int, Tuple[int, int]]

# Stage ids for per-image random streams: each stage gets its own stream, so changing
# e.g. the JPEG range does not change the noise an image receives.
_STAGE_BLUR, _STAGE_NOISE, _STAGE_JPEG = 0, 1, 2


def _check_range(name: str, value: Any, lo: float, hi: float = math.inf) -> None:
    vals = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and (len(value) != 2 or value[0] > value[1]):
        raise ValueError(f"{name} range must be (lo, hi) with lo <= hi, got {value!r}")
    for v in vals:
        if not isinstance(v, (int, float, np.integer, np.floating)) or not (lo <= v <= hi):
            raise ValueError(f"{name} must be a number (or (lo, hi) range) in [{lo}, {hi}], got {value!r}")


def _check_size(name: str, size: Any) -> Tuple[int, int] | None:
    """Validate an int or (h, w) size; ``None`` passes through."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size)
        or min(size) < 1
    ):
        raise ValueError(f"{name} must be an int >= 1 or an (h, w) pair of ints >= 1, got {size!r}")
    return int(size[0]), int(size[1])


@dataclass(frozen=True)
class Degradation:
    """One low-resolution recipe; see the module docstring for the order of stages.

    Args:
        kernel: resampling kernel, one of ``"area" | "bicubic" | "bilinear" | "nearest"``.
        antialias: low-pass when shrinking (stretched kernel, PIL/torch convention); ignored
            for ``"area"`` (inherently antialiased) and ``"nearest"`` (never antialiased).
        blur_sigma: Gaussian blur sigma in HR (input) pixels, applied before resampling;
            a ``(lo, hi)`` pair is sampled uniformly per image.
        noise_std: additive Gaussian noise std at LR in grey levels (0-255 scale); a range is
            sampled per image.
        jpeg_quality: JPEG re-encode quality (1-100) at LR, ``None`` for none; an ``(lo, hi)``
            range of ints is sampled per image (inclusive).
        upsample: ``None`` keeps the native LR size; an int or ``(h, w)`` resizes the LR
            image back to that size (e.g. 112 for models that expect 112x112 input).
        upsample_kernel: kernel for that final resize (unstretched cv2 convention).

    Example:
        >>> Degradation(kernel="bicubic", noise_std=(0.0, 5.0)).kernel
        'bicubic'
    """

    kernel: str = "area"
    antialias: bool = True
    blur_sigma: Range = 0.0
    noise_std: Range = 0.0
    jpeg_quality: Optional[Union[int, Tuple[int, int]]] = None
    upsample: Optional[SizeLike] = None
    upsample_kernel: str = "bicubic"

    def __post_init__(self) -> None:
        for name in ("kernel", "upsample_kernel"):
            if getattr(self, name) not in KERNELS:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; valid: {', '.join(KERNELS)}")
        _check_range("blur_sigma", self.blur_sigma, 0.0, 100.0)
        _check_range("noise_std", self.noise_std, 0.0, 255.0)
        if self.jpeg_quality is not None:
            _check_range("jpeg_quality", self.jpeg_quality, 1, 100)
            q = self.jpeg_quality if isinstance(self.jpeg_quality, tuple) else (self.jpeg_quality,)
            if any(int(v) != v for v in q):
                raise ValueError(f"jpeg_quality must be integer(s), got {self.jpeg_quality!r}")
        _check_size("upsample", self.upsample)

    @property
    def is_random(self) -> bool:
        """True when some stage draws random numbers (noise, or a sampled range)."""
        return (
            isinstance(self.blur_sigma, tuple)
            or isinstance(self.jpeg_quality, tuple)
            or self.noise_std != 0.0
        )


PRESETS: Registry[Degradation] = Registry("degradation preset")
# Plain resampling, no noise: the usual "downsample the HR face" protocols.
PRESETS.register("area", Degradation(kernel="area"))  # exact box average, = cv2 INTER_AREA
PRESETS.register("bicubic", Degradation(kernel="bicubic"))  # antialiased, = PIL BICUBIC
PRESETS.register("bilinear", Degradation(kernel="bilinear"))  # antialiased, = PIL BILINEAR
PRESETS.register("nearest", Degradation(kernel="nearest", antialias=False))  # aliased
# INTER_AREA down then INTER_CUBIC back to 112: the naive baseline of REFERENCES.md and the
# A-SKD input convention (LR faces shown to a 112 model).
PRESETS.register("area-up112", Degradation(kernel="area", upsample=112))
# Light camera chain: slight defocus, a little sensor noise, good JPEG.
PRESETS.register(
    "mild", Degradation(kernel="area", blur_sigma=(0.0, 1.0), noise_std=(0.0, 3.0), jpeg_quality=(70, 95))
)
# CCTV-like chain: area kernel (sensor pixels integrate light over their footprint), optical
# blur up to 2.5 HR px, visible noise, and strong-to-moderate JPEG compression.
PRESETS.register(
    "surveillance",
    Degradation(kernel="area", blur_sigma=(0.5, 2.5), noise_std=(2.0, 8.0), jpeg_quality=(30, 80)),
)


def get_preset(name: str) -> Degradation:
    """The :class:`Degradation` registered as ``name``.

    Raises:
        ValueError: unknown name; the message lists the valid presets.

    Example:
        >>> get_preset("bicubic").kernel
        'bicubic'
    """
    try:
        return PRESETS.get(name)
    except KeyError as e:
        raise ValueError(e.args[0]) from None


def list_presets() -> list[str]:
    """Sorted names of the registered presets, e.g. ``['area', 'area-up112', ...]``."""
    return PRESETS.names()


# --------------------------------------------------------------------------- kernels
def _cubic(x: np.ndarray, a: float) -> np.ndarray:
    x = np.abs(x)
    return np.where(
        x <= 1.0,
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
        np.where(x < 2.0, ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a, 0.0),
    )


def _linear(x: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, 1.0 - np.abs(x))


@functools.lru_cache(maxsize=128)
def _resample_matrix(n_in: int, n_out: int, kernel: str, antialias: bool) -> np.ndarray:
    """(n_out, n_in) float64 matrix whose rows are the weights of each output pixel.

    Every row sums to 1, so a constant signal stays exactly constant (no border ringing).
    """
    scale = n_in / n_out
    m = np.zeros((n_out, n_in), np.float64)
    rows = np.arange(n_out)
    if kernel == "nearest":
        # Integer arithmetic: floor((i + 0.5) * n_in / n_out) exactly, since float rounding
        # at exact ties (e.g. 112 -> 9) would pick the neighbouring pixel.
        idx = np.minimum((2 * rows + 1) * n_in // (2 * n_out), n_in - 1)
        m[rows, idx] = 1.0
    elif kernel == "area":
        # Output pixel i covers [i*scale, (i+1)*scale) in input coordinates; weight of input
        # pixel j is its overlap with that interval (exact fractional box average).
        lo, hi = rows * scale, (rows + 1) * scale
        j = np.arange(n_in)
        overlap = np.minimum(hi[:, None], j[None, :] + 1.0) - np.maximum(lo[:, None], j[None, :])
        m = np.maximum(overlap, 0.0)
    else:
        func = (lambda x: _cubic(x, -0.5 if antialias else -0.75)) if kernel == "bicubic" else _linear
        if antialias:
            # PIL / torch antialias: stretch the kernel by the shrink factor, drop taps outside
            # the image and renormalise (no replicated border).
            fs = max(scale, 1.0)
            centre = (rows + 0.5) * scale
            j = np.arange(n_in)
            # The kernel is zero beyond its support, so taps outside it get no weight.
            m = func((j[None, :] + 0.5 - centre[:, None]) / fs)
        else:
            # cv2 convention: half-pixel centres, fixed taps, replicated border.
            src = (rows + 0.5) * scale - 0.5
            x0 = np.floor(src).astype(np.int64)
            t = src - x0
            offs = range(-1, 3) if kernel == "bicubic" else range(0, 2)
            for k in offs:
                np.add.at(m, (rows, np.clip(x0 + k, 0, n_in - 1)), func(t - k))
    m /= m.sum(axis=1, keepdims=True)
    m.setflags(write=False)  # cached and shared: protect against in-place edits
    return m


def _gauss_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) Gaussian blur matrix, replicated border, radius ceil(3 sigma), rows sum to 1.

    Not cached: sigmas drawn from a range are almost never repeated.
    """
    r = max(1, int(math.ceil(3.0 * sigma)))
    offs = np.arange(-r, r + 1)
    w = np.exp(-0.5 * (offs / sigma) ** 2)
    w /= w.sum()
    m = np.zeros((n, n), np.float64)
    rows = np.arange(n)
    for o, wk in zip(offs, w):
        np.add.at(m, (rows, np.clip(rows + o, 0, n - 1)), wk)
    return m


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _resample(x: np.ndarray, a_h: np.ndarray, a_w: np.ndarray) -> np.ndarray:
    """Apply separable matrices to (N, H, W, C) uint8; ``a_*`` are 2-D (shared) or 3-D (per image).

    numpy's stacked matmul runs one product per image with the same shapes whatever N is,
    so an image's result does not depend on the batch it came in (bit-exact determinism).
    """
    n, h, w, c = x.shape
    y = np.matmul(a_h, x.reshape(n, h, w * c).astype(np.float64))  # (n, oh, w*c)
    y = y.reshape(n, -1, w, c).transpose(0, 1, 3, 2)  # (n, oh, c, w)
    a_wt = np.swapaxes(a_w, -1, -2)
    if a_wt.ndim == 3:
        a_wt = a_wt[:, None]  # (n, 1, w, ow) to broadcast over rows
    z = np.matmul(y, a_wt)  # (n, oh, c, ow)
    return _to_uint8(z.transpose(0, 1, 3, 2))


def _sample(rng: np.random.Generator, value: Range) -> float:
    if isinstance(value, tuple):
        return float(rng.uniform(value[0], value[1]))
    return float(value)


# --------------------------------------------------------------------------- inputs
def _as_batch(images: Any) -> Tuple[np.ndarray, dict]:
    """(N, H, W, 3) uint8 view of the input plus what is needed to give the same kind back."""
    torch = sys.modules.get("torch")  # only if the caller already imported it: no import cost
    if torch is not None and isinstance(images, torch.Tensor):
        t = images.detach()
        if t.ndim not in (3, 4) or t.shape[-3] != 3 or t.shape[-1] < 1 or t.shape[-2] < 1:
            raise ValueError(f"tensor input must be (3, H, W) or (N, 3, H, W), got {tuple(t.shape)}")
        unit = False
        if t.dtype == torch.uint8:
            arr = t.cpu().numpy()
        elif t.is_floating_point():
            f = t.float().cpu()
            if not bool(torch.isfinite(f).all()):
                raise ValueError("tensor input contains NaN or inf")
            unit = bool(f.numel() == 0 or f.max() <= 1.0)  # [0, 1] floats, else 0-255
            arr = _to_uint8(f.numpy() * (255.0 if unit else 1.0))
        else:
            raise ValueError(f"tensor dtype must be uint8 or floating, got {t.dtype}")
        single = t.ndim == 3
        arr = np.moveaxis(arr[None] if single else arr, 1, -1)
        return np.ascontiguousarray(arr), {"torch": t, "single": single, "unit": unit}
    if not isinstance(images, np.ndarray):
        raise ValueError(f"images must be a numpy array or torch tensor, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 RGB, got dtype {images.dtype} (see lrface.face.io.to_rgb_uint8)"
        )
    if images.ndim not in (3, 4) or images.shape[-1] != 3 or min(images.shape[-3:-1]) < 1:
        raise ValueError(f"images must be HxWx3 or NxHxWx3 uint8, got shape {images.shape}")
    single = images.ndim == 3
    return (images[None] if single else images), {"torch": None, "single": single}


def _restore(out: np.ndarray, info: dict) -> Any:
    t = info["torch"]
    if t is None:
        return out[0] if info["single"] else out
    import torch  # already imported, since the input was a tensor

    res = torch.from_numpy(np.ascontiguousarray(np.moveaxis(out, -1, 1)))
    if t.dtype != torch.uint8:
        res = res.to(t.dtype) / 255.0 if info["unit"] else res.to(t.dtype)
    res = res.to(t.device)
    return res[0] if info["single"] else res


def _out_size(res: Any, h: int, w: int) -> Tuple[int, int]:
    if isinstance(res, (int, np.integer)) and not isinstance(res, bool):
        if res < 1:
            raise ValueError(f"res must be >= 1, got {res}")
        return (int(res), int(res)) if h == w else (int(res), max(1, round(res * w / h)))
    size = _check_size("res", res)
    assert size is not None
    return size


# --------------------------------------------------------------------------- pipeline
def degrade(
    images: Any,
    res: SizeLike,
    preset: Union[str, Degradation, None] = None,
    *,
    seed: int = 0,
    indices: Union[int, Sequence[int], None] = None,
    **overrides: Any,
) -> Any:
    """Make low-resolution versions of HR face images (the one LR pipeline of lrface).

    Args:
        images: one HxWx3 uint8 RGB image or an NxHxWx3 uint8 batch; or a torch tensor
            (3, H, W) / (N, 3, H, W), uint8 or float (max <= 1: taken as [0, 1], else as
            0-255; floats are quantised to uint8 first, like a camera would).
        res: output size. An int gives ``res x res`` for square inputs; for a non-square
            input the height is ``res`` and the width ``round(res * W / H)``. An ``(h, w)``
            pair gives exactly that size. Sizes above the input size upsample.
        preset: a preset name (see :func:`list_presets`), a :class:`Degradation`, or
            ``None`` for the default ``Degradation()`` (plain area downsampling).
        seed: base seed; with ``indices`` it fully determines the random draws.
        indices: per-image keys for the random streams (default ``0..N-1``; a single image
            defaults to 0). Pass dataset indices to get the same degradation for a sample
            whatever batch or chunk it is processed in.
        **overrides: fields of :class:`Degradation` replacing the preset's, e.g.
            ``noise_std=0`` or ``upsample=112``.

    Returns:
        The same kind as the input (numpy or tensor, same dtype, layout and device), of
        spatial size ``res`` (or ``upsample`` when set).

    Raises:
        ValueError: bad ``res``, dtype, shape, kernel, preset or override name.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
        >>> degrade(x, 16, "bicubic").shape
        (2, 16, 16, 3)
        >>> degrade(x, (14, 12), "surveillance", seed=3, upsample=112).shape
        (2, 112, 112, 3)
    """
    deg = Degradation() if preset is None else get_preset(preset) if isinstance(preset, str) else preset
    if not isinstance(deg, Degradation):
        raise ValueError(
            f"preset must be a name ({', '.join(list_presets())}) or a Degradation, got {preset!r}"
        )
    if overrides:
        valid = [f.name for f in dataclasses.fields(Degradation)]
        bad = sorted(set(overrides) - set(valid))
        if bad:
            raise ValueError(f"unknown degradation field(s) {bad}; valid: {', '.join(valid)}")
        deg = dataclasses.replace(deg, **overrides)

    x, info = _as_batch(images)
    n, h, w, _ = x.shape
    oh, ow = _out_size(res, h, w)
    if indices is None:
        keys = list(range(n))
    else:
        scalar = np.ndim(indices) == 0
        keys = [int(indices)] if scalar else [int(i) for i in indices]  # type: ignore[arg-type,union-attr]
        if len(keys) != n:
            raise ValueError(f"{len(keys)} indices for {n} images")
    if int(seed) < 0 or any(k < 0 for k in keys):
        raise ValueError(f"seed and indices must be >= 0 (numpy SeedSequence), got seed={seed}")
    if n == 0:
        size = _check_size("upsample", deg.upsample) or (oh, ow)
        return _restore(np.zeros((0, *size, 3), np.uint8), info)

    def rng(i: int, stage: int) -> np.random.Generator:
        # The stream of image i depends only on (seed, key_i, stage), never on the batch.
        return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(keys[i], stage)))

    # 1. blur (folded into the resampling matrices) + resample to the LR size.
    r_h = _resample_matrix(h, oh, deg.kernel, deg.antialias)
    r_w = _resample_matrix(w, ow, deg.kernel, deg.antialias)
    sigmas = [_sample(rng(i, _STAGE_BLUR), deg.blur_sigma) if isinstance(deg.blur_sigma, tuple)
              else float(deg.blur_sigma) for i in range(n)]
    if all(s == sigmas[0] for s in sigmas):
        s = sigmas[0]
        a_h = r_h @ _gauss_matrix(h, s) if s > 0 else r_h
        a_w = r_w @ _gauss_matrix(w, s) if s > 0 else r_w
    else:
        a_h = np.stack([r_h @ _gauss_matrix(h, s) if s > 0 else r_h for s in sigmas])
        a_w = np.stack([r_w @ _gauss_matrix(w, s) if s > 0 else r_w for s in sigmas])
    out = _resample(x, a_h, a_w)

    # 2. sensor noise at LR, then quantise again (the camera's ADC).
    if deg.noise_std != 0.0:
        noisy = out.astype(np.float64)
        for i in range(n):
            g = rng(i, _STAGE_NOISE)
            std = _sample(g, deg.noise_std)
            if std > 0:
                noisy[i] += g.standard_normal((oh, ow, 3)) * std
        out = _to_uint8(noisy)

    # 3. JPEG at LR (cv2 works in BGR, so flip channels around the codec).
    if deg.jpeg_quality is not None:
        for i in range(n):
            q = deg.jpeg_quality
            if isinstance(q, tuple):
                q = int(rng(i, _STAGE_JPEG).integers(int(q[0]), int(q[1]) + 1))
            bgr = np.ascontiguousarray(out[i, :, :, ::-1])
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(q)])
            if not ok:  # pragma: no cover - cv2 only fails on invalid input
                raise RuntimeError("cv2.imencode failed")
            out[i] = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]

    # 4. optional resize back to the model's input size, cv2 (unstretched) convention.
    up = _check_size("upsample", deg.upsample)
    if up is not None and up != (oh, ow):
        out = _resample(
            out,
            _resample_matrix(oh, up[0], deg.upsample_kernel, False),
            _resample_matrix(ow, up[1], deg.upsample_kernel, False),
        )
    return _restore(out, info)
