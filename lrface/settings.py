"""Every environment variable lrface reads, and the folders they name: the one place.

======================  ==========================================================================
``LRFACE_DATA``         real datasets (LFW, CelebA, ...); default ``../shared/data`` beside a
                        source checkout, the development layout (absent: real-data tests skip)
``LRFACE_CACHE``        caches: face packs, teacher outputs, embeddings, aligned faces, dlib's
                        files; default ``~/.cache/lrface``
``LRFACE_WEIGHTS``      a folder with your own ``MANIFEST.yaml`` and weights (converted or
                        trained models), searched after the shipped ones
``LRFACE_DLIB_MODELS``  a folder holding dlib's public-domain ``.dat`` files
``LRFACE_MTCNN_DIR``     a folder holding MTCNN's ``pnet.pt``, ``rnet.pt``, ``onet.pt``
``LRFACE_DEBUG``        set: command-line errors show their traceback
======================  ==========================================================================

Example:
    >>> cache_dir().name in ("lrface",) or "LRFACE_CACHE" in os.environ
    True
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

__all__ = ["data_root", "cache_dir", "user_weights_dir", "dlib_models_dir", "mtcnn_weights_dir", "debug"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str) -> Optional[Path]:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def data_root() -> Optional[Path]:
    """The real-data root, or ``None`` when no data is available: ``$LRFACE_DATA``, else
    ``../shared/data`` next to a source checkout."""
    env = _env_path("LRFACE_DATA")
    if env is not None:
        return env if env.is_dir() else None
    p = _REPO_ROOT.parent / "shared" / "data"
    return p if p.is_dir() else None


def cache_dir() -> Path:
    """``$LRFACE_CACHE`` or ``~/.cache/lrface``."""
    return _env_path("LRFACE_CACHE") or Path.home() / ".cache" / "lrface"


def user_weights_dir() -> Optional[Path]:
    """``$LRFACE_WEIGHTS`` (your own models' folder), or ``None``."""
    return _env_path("LRFACE_WEIGHTS")


def dlib_models_dir() -> Optional[Path]:
    """``$LRFACE_DLIB_MODELS``, or ``None``."""
    return _env_path("LRFACE_DLIB_MODELS")


def mtcnn_weights_dir() -> Optional[Path]:
    """``$LRFACE_MTCNN_DIR``, or ``None``."""
    return _env_path("LRFACE_MTCNN_DIR")


def debug() -> bool:
    """``$LRFACE_DEBUG`` is set (to anything but empty)."""
    return bool(os.environ.get("LRFACE_DEBUG"))
