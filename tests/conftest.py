"""Shared fixtures. Real-data fixtures skip with a clear message when the data is absent."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lrface.settings import data_root


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


# ----------------------------------------------------------------------------- fast mode
# `pytest --fast` (or LRFACE_FAST=1) deselects tests marked `slow` (the big IResNets, the
# long detector and export runs): the mode for quick edit-test loops. CI runs everything.


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true", default=False,
                     help="deselect tests marked slow (same as LRFACE_FAST=1 or -m 'not slow')")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    import os

    if not (config.getoption("--fast") or os.environ.get("LRFACE_FAST") == "1"):
        return
    keep = [it for it in items if it.get_closest_marker("slow") is None]
    dropped = [it for it in items if it.get_closest_marker("slow") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
