"""Where real data lives: ``$LRFACE_DATA`` or ``../shared/data`` beside the checkout."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

_REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Optional[Path]:
    """Return the real-data root, or ``None`` when no data is available.

    Order: the ``LRFACE_DATA`` environment variable, then ``../shared/data`` next to the
    repository checkout (the layout used in development and CI).
    """
    env = os.environ.get("LRFACE_DATA")
    if env:
        p = Path(env).expanduser()
        return p if p.is_dir() else None
    p = _REPO_ROOT.parent / "shared" / "data"
    return p if p.is_dir() else None


def dataset_dir(name: str) -> Optional[Path]:
    """Return ``<data_root>/<name>`` if it exists, else ``None``."""
    root = data_root()
    if root is None:
        return None
    p = root / name
    return p if p.exists() else None
