"""The surveillance workflow from the command line: lrface-embed, lrface-search, lrface-verify.

Runs the real commands in subprocesses on synthetic faces with the fake zoo of
``tests/test_zoo.py`` (random weights: these tests check behaviour, not accuracy).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lrface.data.synthetic import SyntheticFaces
from lrface.face.degrade import degrade
from lrface.face.io import write_image

from test_zoo import fake_zoo  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent


def _run(cli: str, *args: str, weights: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LRFACE_WEIGHTS": str(weights)}
    env.pop("LRFACE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", f"lrface.cli.{cli}", *args], capture_output=True, text=True,
                          cwd=str(cwd), env=env, timeout=300)


@pytest.fixture()
def folders(tmp_path: Path):
    faces, labels = SyntheticFaces(num_identities=3, images_per_identity=2).arrays()
    gallery, probes = tmp_path / "gallery", tmp_path / "probes"
    for k, (f, lab) in enumerate(zip(faces, labels)):
        if k % 2 == 0:  # one ID photo per person
            write_image(gallery / f"person{lab}" / f"{k}.png", f)
        else:  # the other as a 16 px camera crop
            write_image(probes / f"p{lab}_{k}.png", degrade(f, 16, "area"))
    (probes / "broken.png").write_bytes(b"not an image")
    (probes / ".hidden.png").write_bytes(b"skipped")
    return gallery, probes


def test_embed_folder_writes_index_and_reports_bad_files(fake_zoo, folders, tmp_path):  # noqa: F811
    _, probes = folders
    out = tmp_path / "e.npz"
    p = _run("embed", str(probes), "--no-align", "--out", str(out), "--quiet", weights=fake_zoo, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "wrote 3 of 4 embeddings" in p.stdout and "broken.png" in p.stdout
    d = np.load(out)
    assert d["embeddings"].shape == (4, 128) and len(d["paths"]) == 4
    ok = ~np.isnan(d["embeddings"]).any(axis=1)
    assert ok.sum() == 3 and not ok[[Path(x).name for x in d["paths"]].index("broken.png")]
    assert set(d["models"][ok]) == {"zz-s16"}  # 16 px crops: the 16 px student
    assert np.isfinite(d["quality"][ok]).all() and (d["face_px"][ok] == 16).all()


def test_embed_parquet_or_a_clear_error(fake_zoo, folders, tmp_path):  # noqa: F811
    _, probes = folders
    out = tmp_path / "e.parquet"
    p = _run("embed", str(probes / "p0_1.png"), "--no-align", "--out", str(out), "--quiet", weights=fake_zoo,
             cwd=tmp_path)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert p.returncode == 2 and "needs pyarrow" in p.stderr
        return
    import pandas as pd

    df = pd.read_parquet(out)
    assert list(df.columns[:4]) == ["path", "model", "face_px", "quality"] and df.shape == (1, 4 + 128)


def test_search_gallery_folder_then_saved_gallery(fake_zoo, folders, tmp_path):  # noqa: F811
    gallery, probes = folders
    saved = tmp_path / "g.npz"
    p = _run("search", "--gallery", str(gallery), "--no-align", "--probe", str(probes), "-k", "2", "--save",
             str(saved), "--quiet", weights=fake_zoo, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    broken = [ln for ln in lines if ln.startswith(str(probes / "broken.png") + ":")]
    assert len(broken) == 1 and "[" not in broken[0]  # reported, not searched
    hits = [ln for ln in lines if ln.split(":")[0].endswith(".png") and "[" in ln]
    assert len(hits) == 3 and all("threshold" in ln for ln in hits)
    assert "3 of 4 probes searched in a gallery of 3 faces" in p.stdout and saved.is_file()
    p2 = _run("search", "--gallery", str(saved), "--no-align", "--probe", str(probes / "p1_3.png"), "-k", "1",
              "--threshold", "-1", "--quiet", weights=fake_zoo, cwd=tmp_path)
    assert p2.returncode == 0, p2.stderr
    first = p2.stdout.splitlines()[0]
    assert first.split(":")[1].split()[0].startswith("person")  # threshold -1: never "unknown"
    p3 = _run("search", "--gallery", str(saved), "--no-align", "--probe", str(probes / "p1_3.png"),
              "--threshold", "1.01", "--quiet", weights=fake_zoo, cwd=tmp_path)
    assert ": unknown" in p3.stdout.splitlines()[0]


def test_search_refuses_a_non_gallery_npz(fake_zoo, folders, tmp_path):  # noqa: F811
    _, probes = folders
    bad = tmp_path / "e.npz"
    np.savez(bad, embeddings=np.zeros((1, 128), np.float32), paths=np.array(["x"]))
    p = _run("search", "--gallery", str(bad), "--probe", str(probes), "--quiet", weights=fake_zoo, cwd=tmp_path)
    assert p.returncode == 2 and "not a gallery file" in p.stderr


def test_verify_prints_score_decision_threshold_and_models(fake_zoo, folders, tmp_path):  # noqa: F811
    gallery, probes = folders
    a = sorted(gallery.rglob("*.png"))[0]
    b = probes / "p0_1.png"
    p = _run("verify", str(a), str(b), "--no-align", weights=fake_zoo, cwd=tmp_path)
    assert p.returncode in (0, 1), p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("score ") and "at FAR 1e-3" in lines[0]
    assert ("same" in lines[0]) == (p.returncode == 0)
    assert lines[1].startswith("A ") and "zz-hr" in lines[1] and "quality" in lines[1]
    assert lines[2].startswith("B ") and "zz-s16" in lines[2] and "face 16 px" in lines[2]
    p2 = _run("verify", str(a), str(a), "--no-align", "--threshold", "0.99", weights=fake_zoo, cwd=tmp_path)
    assert p2.returncode == 0 and "same" in p2.stdout and "given" in p2.stdout
