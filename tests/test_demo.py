"""lrface-demo: the README's main job (recognition part on the embedded portraits; pipeline part)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_zoo import fake_zoo  # noqa: F401  (fixture)


def test_portraits_are_found_or_the_error_says_what_to_install():
    from lrface.demo_photos import portraits

    try:
        found = portraits()
    except FileNotFoundError as e:
        assert 'pip install "lrface[demo]"' in str(e)
        return
    assert set(found) == {"Grace_Hopper", "Eileen_Collins"} and all(p.is_file() for p in found.values())


def test_recognition_demo_runs_on_the_portraits(fake_zoo, mtcnn_weights, tmp_path, capsys):  # noqa: F811
    pytest.importorskip("skimage")
    import lrface.models.zoo as zoo
    from lrface.demo_photos import run_recognition_demo

    table = {r: e for r, e in zoo.shipped_by_res().items() if e.name.startswith("zz-")}
    orig = zoo.shipped_by_res
    zoo.shipped_by_res = lambda *a, **k: table  # the fake zoo only (random weights: behaviour, not accuracy)
    try:
        report = run_recognition_demo(tmp_path, sizes=(16, 24), crop_sizes=(12,))
    finally:
        zoo.shipped_by_res = orig
    out = capsys.readouterr().out
    assert "ID photos (gallery)" in out and "identified correctly" in out
    assert report["gallery_models"] == ["zz-hr", "zz-hr"]
    probes = report["probes"]
    assert len(probes) == 6 and all(p["found"] for p in probes)
    by = {p["probe"]: p for p in probes}
    # the frames' faces are measured near their size and go to the matching student
    assert by["Grace_Hopper_frame_16px"]["model"] == "zz-s16" and abs(by["Grace_Hopper_frame_16px"]["face_px"] - 16) < 3
    assert by["Eileen_Collins_crop_12px"]["model"] == "zz-s8"  # no 12 px model in the fake zoo
    assert all(set(p["scores"]) == {"Grace_Hopper", "Eileen_Collins"} for p in probes)
    assert len(list((tmp_path / "probes").glob("*.png"))) == 6
    json.dumps(report, default=str)


def test_pipeline_part_of_the_demo(tmp_path, mtcnn_weights):
    from lrface.cli.demo import main

    assert main(["--out", str(tmp_path), "--only", "pipeline", "--identities", "3", "--images", "2",
                 "--workers", "1"]) == 0
    report = json.loads((tmp_path / "demo.json").read_text())
    assert report["pipeline"]["prepare_detect"]["counts"]["ok"] >= 4
    assert (tmp_path / "degradations.png").is_file()
