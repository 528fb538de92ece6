"""lrface-prepare: layout checks, known-landmark mode, resume, kill safety, CLI errors."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lrface.cli.prepare import main as prepare_main
from lrface.data.folder import scan_identity_folders
from lrface.data.prepare import COLUMNS, PrepareSettings, prepare_dataset
from lrface.data.synthetic import write_identity_folders
from lrface.errors import DatasetLayoutError
from lrface.face.io import read_image


def _rows(dst: Path) -> list:
    with open(dst / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    return write_identity_folders(tmp_path / "raw", num_identities=3, images_per_identity=4, seed=1)


def _known(raw: Path) -> PrepareSettings:
    return PrepareSettings(landmarks_file=str(raw / "landmarks.csv"))


def test_known_landmarks_mode_aligns_everything(raw: Path, tmp_path: Path):
    dst = tmp_path / "out"
    s = prepare_dataset(raw, dst, settings=_known(raw), workers=1, progress=False)
    assert s.total == 12 and s.counts["ok"] == 12 and s.processed == 12
    rows = _rows(dst)
    assert list(rows[0].keys())[:4] == ["source", "output", "status", "score"]
    assert list(rows[0].keys()) == COLUMNS
    assert [r["source"] for r in rows] == sorted(r["source"] for r in rows)
    for r in rows:
        ident = r["source"].split("/")[0]
        assert r["output"].startswith(ident + "/") and r["output"].endswith(".jpg")
        img = read_image(dst / r["output"])  # output is relative to DST
        assert img.shape == (112, 112, 3)
    # Rerun: everything resumed, nothing processed again.
    s2 = prepare_dataset(raw, dst, settings=_known(raw), workers=1, progress=False)
    assert s2.processed == 0 and s2.counts["ok"] == 12


def test_112x96_output(raw: Path, tmp_path: Path):
    dst = tmp_path / "out96"
    st = PrepareSettings(size=(112, 96), landmarks_file=str(raw / "landmarks.csv"))
    prepare_dataset(raw, dst, settings=st, workers=1, progress=False, limit=2)
    r = _rows(dst)[0]
    assert read_image(dst / r["output"]).shape == (112, 96, 3)


def test_resume_keeps_work_and_repairs_torn_manifest(raw: Path, tmp_path: Path):
    dst = tmp_path / "out"
    prepare_dataset(raw, dst, settings=_known(raw), workers=1, progress=False, limit=5)
    before = {p: p.read_bytes() for p in dst.rglob("*.jpg")}
    assert len(before) == 5
    # Simulate a kill in the middle of writing a row, and a crop deleted by hand.
    with open(dst / "manifest.csv", "a") as f:
        f.write("id_0002/id_0002_0001.jpg,id_0002_00")
    victim = sorted(before)[0]
    victim.unlink()
    s = prepare_dataset(raw, dst, settings=_known(raw), workers=1, progress=False)
    assert s.total == 12 and s.counts["ok"] == 12
    assert s.processed == 12 - 4  # the 4 intact rows were kept
    for p, data in before.items():
        if p != victim:
            assert p.read_bytes() == data  # finished crops untouched
    assert victim.exists()
    assert not list(dst.rglob(".*tmp*"))


def test_resume_with_other_settings_is_refused(raw: Path, tmp_path: Path):
    dst = tmp_path / "out"
    prepare_dataset(raw, dst, settings=_known(raw), workers=1, progress=False, limit=2)
    other = PrepareSettings(size=(112, 96), landmarks_file=str(raw / "landmarks.csv"))
    with pytest.raises(ValueError, match="different settings"):
        prepare_dataset(raw, dst, settings=other, workers=1, progress=False)
    s = prepare_dataset(raw, dst, settings=other, workers=1, progress=False, overwrite=True, limit=2)
    assert s.processed == 2


def test_layout_errors_name_the_expected_path(tmp_path: Path):
    with pytest.raises(DatasetLayoutError, match="not found.*<identity>/<image>"):
        scan_identity_folders(tmp_path / "missing")
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.jpg").write_bytes(b"x")
    with pytest.raises(DatasetLayoutError, match="no identity folders"):
        scan_identity_folders(flat)
    empty = tmp_path / "empty"
    (empty / "bob").mkdir(parents=True)
    (empty / "bob" / "notes.txt").write_text("hi")
    with pytest.raises(DatasetLayoutError, match="no images found"):
        scan_identity_folders(empty)
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        scan_identity_folders(f)


def test_dst_inside_src_and_bad_landmark_files(raw: Path, tmp_path: Path):
    with pytest.raises(DatasetLayoutError, match="must not be inside"):
        prepare_dataset(raw, raw / "out", workers=1, progress=False)
    bad = tmp_path / "lm.csv"
    bad.write_text("path,x1,y1\nid_0000/a.jpg,1,2\n")
    with pytest.raises(DatasetLayoutError, match="missing columns"):
        prepare_dataset(raw, tmp_path / "o1", settings=PrepareSettings(landmarks_file=str(bad)),
                        workers=1, progress=False)
    cols = ["path"] + [f"{a}{i}" for i in range(1, 6) for a in "xy"]
    bad.write_text(",".join(cols) + "\nid_0000/a.jpg," + ",".join(["oops"] * 10) + "\n")
    with pytest.raises(DatasetLayoutError, match="bad landmark values"):
        prepare_dataset(raw, tmp_path / "o2", settings=PrepareSettings(landmarks_file=str(bad)),
                        workers=1, progress=False)
    with pytest.raises(DatasetLayoutError, match="landmarks file not found"):
        prepare_dataset(raw, tmp_path / "o3", settings=PrepareSettings(landmarks_file=str(tmp_path / "no.csv")),
                        workers=1, progress=False)


def test_cli_bad_root_is_one_clear_line(tmp_path: Path, capsys):
    code = prepare_main([str(tmp_path / "nope"), str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: dataset folder not found") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_known_landmarks_prints_summary(raw: Path, tmp_path: Path, capsys):
    code = prepare_main([str(raw), str(tmp_path / "o"), "--landmarks", str(raw / "landmarks.csv"),
                         "--workers", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "12 images: ok=12, no_face=0, unreadable=0" in out and "images/s" in out


def test_cli_rejects_bad_size(tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        prepare_main([str(tmp_path), str(tmp_path / "o"), "--size", "big"])
    assert "size must look like" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_run_resumes_without_loss(tmp_path: Path, mtcnn_weights):
    """SIGKILL a real detection run mid-way; the rerun completes and every crop is whole."""
    raw = write_identity_folders(tmp_path / "raw", num_identities=6, images_per_identity=10, seed=3)
    dst = tmp_path / "out"
    cmd = [sys.executable, "-m", "lrface.cli.prepare", str(raw), str(dst), "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = dst / "manifest.csv"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if manifest.exists() and manifest.read_text().count("\n") >= 6:
            break
        time.sleep(0.05)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = max(0, len(_rows(dst)))
    assert killed and 0 < n_before < 60, "the run should have been killed part-way"
    s = prepare_dataset(raw, dst, workers=1, progress=False)
    assert s.total == 60 and s.processed == 60 - n_before
    rows = _rows(dst)
    assert len({r["source"] for r in rows}) == 60
    for r in rows:
        if r["status"] == "ok":
            img = read_image(dst / r["output"])  # decodes fully
            assert img.shape == (112, 112, 3)
    assert not [p for p in dst.rglob("*") if ".tmp" in p.name]


def test_limited_rerun_keeps_other_rows(raw: Path, tmp_path: Path):
    dst = tmp_path / "out"
    prepare_dataset(raw, dst, settings=_known(raw), workers=1, progress=False)
    s = prepare_dataset(raw, dst, settings=_known(raw), workers=1, progress=False, limit=2)
    assert s.total == 12 and s.processed == 0 and len(_rows(dst)) == 12


def test_output_column_is_relative_to_dst_and_old_manifests_resume(raw: Path, tmp_path: Path):
    dst = tmp_path / "out"
    prepare_dataset(raw, dst, settings=_known(raw), workers=1, progress=False, limit=4)
    rows = _rows(dst)
    assert all(r["output"] == r["source"].rsplit(".", 1)[0] + ".jpg" for r in rows)
    # A manifest written by an older lrface held bare file names: it still resumes, and is upgraded.
    with open(dst / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows({**r, "output": r["output"].split("/")[1]} for r in rows)
    s = prepare_dataset(raw, dst, settings=_known(raw), workers=1, progress=False)
    assert s.processed == 12 - 4 and s.counts["ok"] == 12
    for r in _rows(dst):
        assert "/" in r["output"] and (dst / r["output"]).is_file()


def _rename_in_landmarks(raw: Path, old: str, new: str) -> None:
    (raw / old).rename(raw / new)
    lm = raw / "landmarks.csv"
    lm.write_text(lm.read_text().replace(old + ",", new + ","))


def test_every_file_gets_a_row_and_content_decides_what_is_an_image(raw: Path, tmp_path: Path, capsys):
    # A JPEG without a suffix is an image (decided by its first bytes) ...
    _rename_in_landmarks(raw, "id_0000/id_0000_0001.jpg", "id_0000/id_0000_0001")
    # ... a PNG with a misleading suffix too; other files get an unreadable row saying why.
    _rename_in_landmarks(raw, "id_0000/id_0000_0002.jpg", "id_0000/id_0000_0002.dat")
    (raw / "id_0001" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (raw / "id_0001" / "notes.txt").write_text("not an image")
    (raw / "id_0001" / "._id_0001_0001.jpg").write_bytes(b"\0\5\26\7AppleDouble")
    (raw / "id_0002" / "more").mkdir()  # a sub-folder: cannot have a row, counted as skipped
    (raw / "README").write_text("loose file in SRC")
    dst = tmp_path / "out"
    code = prepare_main([str(raw), str(dst), "--landmarks", str(raw / "landmarks.csv"),
                         "--workers", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    rows = {r["source"]: r for r in _rows(dst)}
    assert len(rows) == 12 + 3
    for name in ("id_0000/id_0000_0001", "id_0000/id_0000_0002.dat"):
        assert rows[name]["status"] == "ok", rows[name]
        assert read_image(dst / rows[name]["output"]).shape == (112, 112, 3)
    assert rows["id_0000/id_0000_0001"]["output"] == "id_0000/id_0000_0001.jpg"
    for name in (".DS_Store", "notes.txt", "._id_0001_0001.jpg"):
        r = rows[f"id_0001/{name}"]
        assert r["status"] == "unreadable" and r["message"].startswith("not an image file"), r
        assert r["output"] == ""
    assert "15 images: ok=12, no_face=0, unreadable=3" in out
    assert "3 of the unreadable are not image files" in out
    # landmarks.csv and README sit directly in SRC; "more" is a sub-folder of an identity folder.
    assert "2 files directly in SRC" in out and "1 sub-folders inside identity folders" in out
    # Resume: the non-image rows are kept like any other.
    s = prepare_dataset(raw, dst, settings=_known(raw), workers=1, progress=False)
    assert s.processed == 0 and s.total == 15 and s.not_images == 3


def test_only_non_images_is_a_layout_error(tmp_path: Path):
    (tmp_path / "src" / "bob").mkdir(parents=True)
    (tmp_path / "src" / "bob" / "notes.txt").write_text("hi")
    with pytest.raises(DatasetLayoutError, match="no images found"):
        prepare_dataset(tmp_path / "src", tmp_path / "dst", workers=1, progress=False)
