"""Resampling and blur matrices of :func:`lrface.face.degrade.degrade`, and how they are applied.

Kept apart from the pipeline so that ``degrade.py`` stays readable. Everything here is
float64 and every product is a numpy ``matmul`` of the same per-image shapes as the
straightforward loop (one BLAS gemm per image and stage), so the bits do not depend on
batch size, chunking or the vectorised construction: the golden tests in
``tests/test_degrade.py`` pin them.

BLAS threads: the products are many small per-image gemms, for which extra BLAS threads
buy little and oversubscribe a machine whose cores are already busy (DataLoader workers,
multiprocessing pools, other jobs). :func:`blas_threads` caps them (default 1) while
``degrade`` runs, through threadpoolctl when it is installed.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import threading
from typing import Any, Iterator, Optional

import numpy as np

logger = logging.getLogger(__name__)

# Images per chunk: the float64 copy of a 112x112x3 image is 301 KB, so a few images keep
# the working set of the products in cache (3 MB: 10 faces; 2-4 MB measured best here).
CHUNK_BYTES = 3 << 20


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
def resample_matrix(n_in: int, n_out: int, kernel: str, antialias: bool) -> np.ndarray:
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


# --------------------------------------------------------------------------- blur
def _radius(sigma: Any) -> Any:
    """Gaussian radius ceil(3 sigma), at least 1 (scalar or array)."""
    return np.maximum(1, np.ceil(3.0 * np.asarray(sigma, np.float64))).astype(np.int64)


def gauss_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) Gaussian blur matrix, replicated border, radius ceil(3 sigma), rows sum to 1.

    The reference construction (one image); :func:`blur_matrices` builds the same bits
    for many sigmas at once.
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


class GaussTaps:
    """Normalised Gaussian taps of many sigmas, zero-padded to one radius ``R``.

    ``taps[i, R + o]`` is the weight of offset ``o`` for image ``i``, computed exactly as
    :func:`gauss_matrix` does (same length per radius, so the same normalising sum).
    ``left[i, t]`` / ``right[i, d]`` are the replicated-border sums that land in the first
    and last column, accumulated in the same order as ``np.add.at`` there. Zero padding
    changes no bits: adding 0.0 is exact.
    """

    def __init__(self, sigmas: np.ndarray) -> None:
        pos = sigmas > 0  # sigma 0 means no blur: those rows stay all-zero, never used
        radii = np.where(pos, _radius(np.where(pos, sigmas, 1.0)), 0)
        self.R = R = max(1, int(radii.max()))
        self.taps = np.zeros((len(sigmas), 2 * R + 1), np.float64)
        for r in np.unique(radii[pos]):
            idx = np.flatnonzero(radii == r)
            offs = np.arange(-r, r + 1)
            w = np.exp(-0.5 * (offs[None, :] / sigmas[idx, None]) ** 2)
            w /= w.sum(axis=1, keepdims=True)
            self.taps[idx, R - r : R + r + 1] = w
        # row i <= R, column 0: offsets -R..-i in order = running sum of taps[:, 0..R-i]
        self.left = np.cumsum(self.taps[:, : R + 1], axis=1)
        # row n-1-d, column n-1: offsets d..R in order, for d = 0..R
        self.right = np.empty((len(sigmas), R + 1), np.float64)
        for j in range(R, 2 * R + 1):
            self.right[:, : j - R] += self.taps[:, j : j + 1]
            self.right[:, j - R] = self.taps[:, j]
        self._work: dict = {}

    def workspace(self, n: int, k: int) -> np.ndarray:
        """A zeroed (>= k, n * n) buffer reused across chunks: :func:`blur_matrices` rewrites the
        same band entries every time and never touches the rest, so no re-zeroing is needed."""
        buf = self._work.get(n)
        if buf is None or len(buf) < k:
            buf = self._work[n] = np.zeros((k, n * n), np.float64)
        return buf[:k]


def blur_matrices(n: int, taps: GaussTaps, sel: slice) -> np.ndarray:
    """(k, n, n) float64: ``gauss_matrix(n, sigma_i)`` for the images ``sel`` of ``taps``.

    Needs ``2 R + 1 <= n`` (no row clipped at both borders); see :func:`blur_resample`.
    """
    w, left, right, R = taps.taps[sel], taps.left[sel], taps.right[sel], taps.R
    k = len(w)
    m = taps.workspace(n, k)
    for o in range(-R, R + 1):  # diagonal o: entries (i, i + o), flat index i * (n + 1) + o
        first = max(0, -o)
        last = min(n, n - o) - 1
        m[:, first * (n + 1) + o : last * (n + 1) + o + 1 : n + 1] = w[:, R + o, None]
    m = m.reshape(k, n, n)
    m[:, : R + 1, 0] = left[:, ::-1]  # row i gets left[:, R - i]
    m[:, n - 1 - R :, n - 1] = right[:, ::-1]  # row n-1-d gets right[:, d]
    return m


def blur_resample(n_in: int, n_out: int, kernel: str, antialias: bool, sigmas: np.ndarray,
                  taps: Optional[GaussTaps], sel: slice) -> np.ndarray:
    """(k, n_out, n_in): ``resample_matrix @ gauss_matrix(n_in, sigma_i)`` (or the plain
    resampling matrix where sigma is 0) for the images ``sel``; one gemm per image."""
    r = resample_matrix(n_in, n_out, kernel, antialias)
    s = sigmas[sel]
    if taps is not None and 2 * taps.R + 1 <= n_in:
        out = np.matmul(r, blur_matrices(n_in, taps, sel))  # the workspace is reused: use it now
    else:  # kernel wider than the image: the per-image reference construction
        out = np.stack([r @ gauss_matrix(n_in, float(v)) if v > 0 else r for v in s])
    out[s <= 0] = r
    return out


# --------------------------------------------------------------------------- apply
def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def to_uint8_(x: np.ndarray) -> np.ndarray:
    """:func:`to_uint8` that overwrites its float input (a temporary) instead of copying it."""
    np.rint(x, out=x)
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)


def resample(x: np.ndarray, a_h: np.ndarray, a_w: np.ndarray) -> np.ndarray:
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
    return to_uint8_(z).transpose(0, 1, 3, 2)


def chunk_size(h: int, w: int, c: int = 3) -> int:
    """Images per chunk so that one chunk's float64 input copy is about ``CHUNK_BYTES``."""
    return max(1, CHUNK_BYTES // (8 * h * w * c))


# --------------------------------------------------------------------------- BLAS threads
_limits = threading.local()
_DEFAULT_THREADS: Optional[int] = 1
_controller: Any = None
_controller_lock = threading.Lock()


def _get_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, built once (it scans the process)."""
    global _controller
    with _controller_lock:
        if _controller is None:
            try:
                from threadpoolctl import ThreadpoolController

                _controller = ThreadpoolController().select(user_api="blas")
            except Exception as e:  # pragma: no cover - threadpoolctl missing or broken
                logger.debug("threadpoolctl unavailable (%s): BLAS threads are not capped", e)
                _controller = False
        return _controller


def current_blas_threads() -> Optional[int]:
    """The BLAS thread cap ``degrade`` applies now (``None``: BLAS left as it is)."""
    return getattr(_limits, "n", _DEFAULT_THREADS)


@contextlib.contextmanager
def blas_threads(n: Optional[int]) -> Iterator[None]:
    """Cap the BLAS threads of ``degrade`` calls made inside the block (this thread only).

    ``n=None`` leaves BLAS alone (its own default, usually one thread per core); the
    default outside any block is 1.
    """
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ValueError(f"threads must be an int >= 1 or None, got {n!r}")
    old = current_blas_threads()
    _limits.n = n
    try:
        yield
    finally:
        _limits.n = old


@contextlib.contextmanager
def limited_blas() -> Iterator[None]:
    """Apply :func:`current_blas_threads` to the process's BLAS for the duration of the block.

    Sets each BLAS library's thread count directly (a few us; threadpoolctl's own ``limit``
    costs ~20 us, as much as degrading one face) and restores the ones it lowered.
    """
    n = current_blas_threads()
    ctl = _get_controller() if n is not None else None
    lowered = []
    if ctl:
        for lib in ctl.lib_controllers:
            old = lib.num_threads
            if old > n:
                lib.set_num_threads(n)
                lowered.append((lib, old))
    try:
        yield
    finally:
        for lib, old in lowered:
            lib.set_num_threads(old)
