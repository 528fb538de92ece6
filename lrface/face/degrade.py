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

Speed: the batch runs in cache-sized chunks; per-image blur+resampling matrices are built
for all sigmas at once and the per-image random streams are computed batch-wise
(``_streams``), bit-identical to the per-image loop they replace (pinned by the golden
tests). The matrix products use at most one BLAS thread by default, so ``degrade`` in
DataLoader workers or process pools does not oversubscribe the machine (parallelise over
batches instead); ``with blas_threads(n): ...`` changes that cap for the calls inside the
block (``None``: leave BLAS alone). Outputs do not depend on the cap.

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
import logging
import math
import sys
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from lrface.face._resample import (  # noqa: F401 - blas_threads is re-exported
    GaussTaps, blas_threads, blur_resample, chunk_size, gauss_matrix, limited_blas, resample,
    resample_matrix, to_uint8, to_uint8_,
)
from lrface.face._streams import Streams
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
# INTER_AREA down then INTER_CUBIC back to 112: the naive baseline (docs/results.md) and the
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


# Kernels, blur matrices and their application live in _resample (kept under these names).
_resample_matrix = resample_matrix
_gauss_matrix = gauss_matrix
_to_uint8 = to_uint8
_resample = resample


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

    karr = np.asarray(keys, np.int64)
    # Per-image draws of every stage, for the whole batch at once (see _streams): image i's
    # stage-s stream is default_rng(SeedSequence(seed, spawn_key=(keys[i], s))).
    if isinstance(deg.blur_sigma, tuple):
        sigmas = Streams(seed, karr, _STAGE_BLUR).uniform(*deg.blur_sigma)
    else:
        sigmas = np.full(n, float(deg.blur_sigma))
    noise = None
    if deg.noise_std != 0.0:
        noise = Streams(seed, karr, _STAGE_NOISE)
        stds = (noise.uniform(*deg.noise_std) if isinstance(deg.noise_std, tuple)
                else np.full(n, float(deg.noise_std)))
    q = deg.jpeg_quality
    if q is not None:
        quality = (Streams(seed, karr, _STAGE_JPEG).integers(int(q[0]), int(q[1]) + 1).tolist()
                   if isinstance(q, tuple) else [int(q)] * n)

    # 1. blur (folded into the resampling matrices) + resample to the LR size.
    shared = bool(np.all(sigmas == sigmas[0]))
    square = (h, oh) == (w, ow)  # then the width matrices are the height ones, bit for bit
    taps = GaussTaps(sigmas[:1] if shared else sigmas) if (sigmas > 0).any() else None
    if shared:  # one pair of matrices for the batch (same bits as per image)
        a_h = blur_resample(h, oh, deg.kernel, deg.antialias, sigmas, taps, slice(0, 1))[0]
        a_w = a_h if square else blur_resample(w, ow, deg.kernel, deg.antialias, sigmas, taps, slice(0, 1))[0]
    up = _check_size("upsample", deg.upsample)
    if up == (oh, ow):
        up = None
    if up is not None:
        u_h = _resample_matrix(oh, up[0], deg.upsample_kernel, False)
        u_w = _resample_matrix(ow, up[1], deg.upsample_kernel, False)

    # Cache-sized chunks run every stage in turn; each image's bits are the same as in a
    # per-image loop (same per-image products and draws).
    step = chunk_size(h, w)
    out = np.empty((n, *(up or (oh, ow)), 3), np.uint8)
    with limited_blas():
        for c0 in range(0, n, step):
            sel = slice(c0, min(n, c0 + step))
            if not shared:
                a_h = blur_resample(h, oh, deg.kernel, deg.antialias, sigmas, taps, sel)
                a_w = a_h if square else blur_resample(w, ow, deg.kernel, deg.antialias, sigmas, taps, sel)
            lr = _resample(x[sel], a_h, a_w)

            # 2. sensor noise at LR, then quantise again (the camera's ADC).
            if noise is not None:
                std = stds[sel]
                pos = std > 0
                gauss = np.empty(lr.shape, np.float64) if pos.all() else np.zeros(lr.shape, np.float64)
                for j in np.flatnonzero(pos):
                    noise.generator(c0 + j).standard_normal(out=gauss[j])
                gauss *= std[:, None, None, None]
                gauss += lr  # = lr + normal * std, bit for bit (IEEE addition commutes)
                lr = to_uint8_(gauss)

            # 3. JPEG at LR (cv2 works in BGR, so flip channels around the codec).
            if q is not None:
                bgr = np.ascontiguousarray(lr[..., ::-1])
                for j in range(len(bgr)):
                    ok, buf = cv2.imencode(".jpg", bgr[j], [cv2.IMWRITE_JPEG_QUALITY, quality[c0 + j]])
                    if not ok:  # pragma: no cover - cv2 only fails on invalid input
                        raise RuntimeError("cv2.imencode failed")
                    bgr[j] = cv2.imdecode(buf, cv2.IMREAD_COLOR)
                lr = bgr[..., ::-1]

            # 4. optional resize back to the model's input size, cv2 (unstretched) convention.
            out[sel] = lr if up is None else _resample(lr, u_h, u_w)
    return _restore(out, info)
