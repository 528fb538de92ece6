"""Shared fixtures. Real-data fixtures skip with a clear message when the data is absent."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lrface.paths import data_root


def _need(sub: str) -> Path:
    root = data_root()
    if root is None:
        pytest.skip("real data not found: set LRFACE_DATA or place the data at ../shared/data")
    p = root / sub
    if not p.exists():
        pytest.skip(f"real data not found: {p} is missing")
    return p


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    return _need("lfw")


@pytest.fixture(scope="session")
def orl_dir() -> Path:
    return _need("orl")


@pytest.fixture(scope="session")
def pins_dir() -> Path:
    return _need("pins")


@pytest.fixture(scope="session")
def teachers_dir() -> Path:
    return _need("teachers")


@pytest.fixture(scope="session")
def mtcnn_weights() -> Path:
    """Directory holding pnet.pt/rnet.pt/onet.pt; skips when facenet-pytorch is absent."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("MTCNN weights not found: pip install --no-deps facenet-pytorch==2.6.0")
    d = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not (d / "pnet.pt").exists():
        pytest.skip(f"MTCNN weights not found in {d}")
    return d
