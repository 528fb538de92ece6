"""Published figures are regenerated from committed result files, never typed."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _make_tables():
    spec = importlib.util.spec_from_file_location("make_tables", ROOT / "benchmarks" / "make_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_tables_match_the_committed_result_files():
    mt = _make_tables()
    for doc in mt.DOCS:
        if doc.is_file():
            text = doc.read_text()
            assert mt.render(text) == text, f"{doc.name} is stale: run python benchmarks/make_tables.py"


def test_every_block_in_docs_has_a_renderer_and_a_result_file():
    mt = _make_tables()
    names = [m.group("name") for doc in mt.DOCS if doc.is_file() for m in mt.BLOCK.finditer(doc.read_text())]
    assert "lfw_naive" in names and "lfw_teacher" in names and "embed_vs_bench" in names
    for n in names:
        assert n in mt.TABLES
        assert mt.TABLES[n]().strip(), n  # renders (raises if its result file is missing)


def test_render_replaces_only_marked_blocks():
    mt = _make_tables()
    text = "intro 1.0\n<!-- begin: t -->\nold 2.0\n<!-- end: t -->\noutro 3.0\n"
    out = mt.render(text, {"t": lambda: "| new |\n"})
    assert out == "intro 1.0\n<!-- begin: t -->\n| new |\n<!-- end: t -->\noutro 3.0\n"
    with pytest.raises(KeyError, match="unknown table"):
        mt.render(text, {})
