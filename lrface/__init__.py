"""lrface: low-resolution face recognition.

The face pipeline lives in :mod:`lrface.face` (detect, align, degrade, io); synthetic
offline data in :mod:`lrface.data.synthetic`. Importing this package does no I/O, selects
no device and prints nothing.
"""
from __future__ import annotations

__version__ = "0.1.0"

from lrface.errors import (  # noqa: F401  (re-exported public exceptions)
    DatasetLayoutError,
    ImageReadError,
    LrfaceError,
    NoFaceError,
)

__all__ = [
    "__version__",
    "LrfaceError",
    "ImageReadError",
    "NoFaceError",
    "DatasetLayoutError",
]
