"""What every protocol shares: the registry, the embedding-function contract, and the one
place where faces are degraded, embedded, flip-augmented and normalised.

The embedding-function contract
-------------------------------
A protocol never sees a model. Its caller passes ``embed_fn(faces, res)``:

* ``faces``: ``(N, H, W, 3)`` uint8 RGB, aligned on the ArcFace 112x112 template. With
  ``res=None`` they are the high-resolution (HR) crops, ``H = W = 112``. With an int ``res``
  they are the low-resolution (LR) crops made by the protocol with
  :func:`lrface.face.degrade.degrade` at their **native** size ``res x res`` (unless the
  protocol's degradation preset itself upsamples, e.g. ``"area-up112"``).
* ``res``: ``None`` for HR faces, else the LR side in pixels. It lets the caller pick a
  model per resolution, or upsample LR faces for a 112-input model (bicubic, say): the
  runner, not the protocol, decides how a model sees LR faces.
* returns ``(N, D)`` float embeddings, one row per face, in order. They need not be unit
  norm: the protocol L2-normalises after the optional flip sum, so a caller that returns
  raw features gets insightface's flip-TTA exactly (``normalise(f(x) + f(flip(x)))``).

Because degradation happens here, with :func:`~lrface.face.degrade.degrade` seeded per image
(key = the image's index in the protocol's sorted list of distinct images), two models
evaluated with the same settings see bit-identical LR faces, whatever the batch size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from lrface.errors import DatasetLayoutError
from lrface.face.degrade import degrade as _degrade
from lrface.face.degrade import get_preset
from lrface.settings import data_root
from lrface.registry import Registry

#: ``embed_fn(faces_uint8_NHWC_RGB, res_or_None) -> (N, D) embeddings``
EmbedFn = Callable[[np.ndarray, Optional[int]], np.ndarray]

#: Registry of protocol classes: ``PROTOCOLS.get("lfw")(root=...).evaluate(embed_fn, res=16)``.
PROTOCOLS: Registry[type] = Registry("protocol")

#: Cross-resolution modes: which side of a comparison is degraded to ``res``.
MODES = ("lr-lr", "hr-lr", "hr-hr")


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero), as float32.

    Example:
        >>> l2_normalize(np.array([[3.0, 4.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    x = np.asarray(x, dtype=np.float64)
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)).astype(np.float32)


def _call(embed_fn: EmbedFn, faces: np.ndarray, res: Optional[int]) -> np.ndarray:
    out = np.asarray(embed_fn(faces, res))
    if out.ndim != 2 or out.shape[0] != faces.shape[0]:
        raise ValueError(
            f"embed_fn must return an (N, D) array for N = {faces.shape[0]} faces, got shape {out.shape}"
        )
    if not np.isfinite(out).all():
        raise ValueError(f"embed_fn returned NaN or inf (res={res})")
    return out.astype(np.float64)


def embed_faces(
    embed_fn: EmbedFn,
    hr_faces: np.ndarray,
    res: Optional[int] = None,
    *,
    preset: str = "area",
    seed: int = 0,
    keys: Optional[Sequence[int]] = None,
    flip: bool = False,
    batch_size: int = 256,
) -> np.ndarray:
    """Degrade (when ``res`` is set), embed, flip-sum and L2-normalise aligned HR faces.

    Args:
        embed_fn: see the module docstring.
        hr_faces: (N, 112, 112, 3) uint8 aligned RGB faces.
        res: ``None`` to embed the HR faces, else the LR side passed to
            :func:`~lrface.face.degrade.degrade`.
        preset: degradation preset name (see :func:`lrface.face.degrade.list_presets`).
        seed: degradation seed.
        keys: per-face random-stream keys (default ``0..N-1``); pass stable dataset indices
            so a face gets the same degradation whatever subset or batch it is in.
        flip: flip-TTA: embed the mirrored face too and sum before normalising.
        batch_size: faces per ``embed_fn`` call.

    Returns:
        (N, D) float32 unit-norm embeddings.

    Example:
        >>> fn = lambda x, r: x.reshape(len(x), -1)[:, :4].astype(float) + 1
        >>> embed_faces(fn, np.zeros((3, 112, 112, 3), np.uint8), 16).shape
        (3, 4)
    """
    n = len(hr_faces)
    if keys is None:
        keys = np.arange(n)
    keys = np.asarray(keys, dtype=np.int64)
    if keys.shape != (n,):
        raise ValueError(f"{keys.shape[0]} keys for {n} faces")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    chunks = []
    for s in range(0, n, batch_size):
        x = hr_faces[s : s + batch_size]
        if res is not None:
            x = _degrade(x, int(res), preset, seed=seed, indices=keys[s : s + batch_size])
        e = _call(embed_fn, x, res)
        if flip:
            e = e + _call(embed_fn, np.ascontiguousarray(x[:, :, ::-1]), res)
        chunks.append(e)
    if not chunks:
        raise ValueError("no faces to embed")
    return l2_normalize(np.concatenate(chunks))


def check_res_mode(res: Any, mode: str, modes: Sequence[str] = MODES) -> Optional[int]:
    """Validate a (res, mode) pair; returns ``res`` as an int, or ``None`` for ``hr-hr``.

    Raises:
        ValueError: unknown mode, or an LR mode without a positive integer ``res``.
    """
    if mode not in modes:
        raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(modes)}")
    if mode == "hr-hr":
        return None
    if res is None or isinstance(res, bool) or not isinstance(res, (int, np.integer)) or res < 1:
        raise ValueError(f"mode {mode!r} needs res = a positive int (LR side in pixels), got {res!r}")
    return int(res)


def resolve_root(root: Union[str, Path, None], name: str) -> Path:
    """``root`` as a Path, or ``<data_root>/<name>`` when ``root`` is None.

    Raises:
        DatasetLayoutError: no root given and none found, or the folder does not exist.
    """
    if root is None:
        base = data_root()
        if base is None:
            raise DatasetLayoutError(
                f"no {name} folder given and no data root found: pass root=..., or set LRFACE_DATA "
                f"to a folder containing {name}/ (see docs/datasets.md)"
            )
        root = base / name
    p = Path(root).expanduser()
    if not p.is_dir():
        raise DatasetLayoutError(f"{name} root {p} does not exist or is not a folder (see docs/datasets.md)")
    return p


class Protocol:
    """Base class: constructors store settings only (no I/O); :meth:`check` validates the
    dataset layout; :meth:`evaluate` runs the protocol and returns a flat dict of metrics
    plus the settings that produced them (``dataset``, ``protocol``, ``mode``, ``res``,
    ``degrade``, ``flip``, ``seed``).
    """

    name: str = ""
    dataset: str = ""
    #: the cross-resolution modes this protocol runs; the first is its default
    modes: Tuple[str, ...] = MODES

    def resolve_mode(self, mode: Optional[str], res: Any = None) -> str:
        """``mode``, or this protocol's default (its first mode; ``"hr-hr"`` without ``res``
        where it runs that), checked against :attr:`modes`."""
        if mode is None:
            mode = "hr-hr" if res is None and "hr-hr" in self.modes else self.modes[0]
        if mode not in self.modes:
            raise ValueError(f"unknown mode {mode!r} for {self.name}; valid: {', '.join(self.modes)}")
        return mode

    @classmethod
    def options(cls) -> Tuple[str, ...]:
        """Keyword settings this protocol's constructor takes (what a command may pass on)."""
        import inspect

        return tuple(n for n in inspect.signature(cls.__init__).parameters if n != "self")

    def __init__(self, *, degrade: str = "area", flip: bool = False, seed: int = 0, batch_size: int = 256) -> None:
        get_preset(degrade)  # fail early on a typo, without touching any file
        self.degrade = degrade
        self.flip = bool(flip)
        self.seed = int(seed)
        self.batch_size = int(batch_size)

    def check(self) -> Any:  # pragma: no cover - abstract
        """Validate the dataset layout; raise :class:`DatasetLayoutError` if it is wrong."""
        raise NotImplementedError

    def evaluate(self, embed_fn: EmbedFn, res: Any = None, mode: Optional[str] = None) -> Dict[str, Any]:  # pragma: no cover
        """The one contract: embed with ``embed_fn`` at ``res`` in ``mode`` (one of :attr:`modes`,
        ``None``: the default, see :meth:`resolve_mode`), return settings and metrics."""
        raise NotImplementedError

    def _embed(self, embed_fn: EmbedFn, faces: np.ndarray, res: Optional[int], keys: Any = None,
               preset: Optional[str] = None) -> np.ndarray:
        return embed_faces(
            embed_fn, faces, res, preset=preset or self.degrade, seed=self.seed, keys=keys,
            flip=self.flip, batch_size=self.batch_size,
        )

    def _meta(self, mode: str, res: Any) -> Dict[str, Any]:
        return {
            "dataset": self.dataset, "protocol": self.name, "mode": mode, "res": res,
            "degrade": self.degrade, "flip": self.flip, "seed": self.seed,
        }


def as_tuple(x: Union[int, Sequence[int]]) -> Tuple[int, ...]:
    """An int or a sequence of ints as a tuple."""
    return (int(x),) if isinstance(x, (int, np.integer)) else tuple(int(v) for v in x)
