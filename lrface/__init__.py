"""lrface: low-resolution face recognition.

Public API (loaded lazily, so ``import lrface`` stays cheap and does no I/O, selects no
device and prints nothing)::

    lrface.embed(images, model=None, res=None, align=True, ...) -> np.ndarray (N, D) unit-norm
    lrface.verify(a, b, model=None) -> Verification(score, same, threshold)
    lrface.load_model(name_or_path=None, res=None) -> model
    lrface.list_models(pattern="*", pretrained=False) -> list[str]   # names load_model accepts
    lrface.Gallery

The face pipeline lives in :mod:`lrface.face` (io, detect, align, degrade); synthetic
offline data in :mod:`lrface.data.synthetic`.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from lrface.errors import (  # noqa: E402,F401  (re-exported public exceptions)
    DatasetLayoutError,
    ImageReadError,
    LrfaceError,
    NoFaceError,
    WeightsError,
)

_LAZY = {
    "embed": "lrface.api",
    "verify": "lrface.api",
    "Gallery": "lrface.gallery",
    "Identification": "lrface.gallery",
    "Verification": "lrface.api",
    "FaceInfo": "lrface.api",
    "load_model": "lrface.models.weights",
    "list_models": "lrface.models.weights",
    "create_model": "lrface.models.base",
}

__all__ = [
    "__version__",
    *sorted(_LAZY),
    "LrfaceError",
    "ImageReadError",
    "NoFaceError",
    "DatasetLayoutError",
    "WeightsError",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lrface' has no attribute {name!r}")
