"""lrface-bench end to end on a synthetic LFW-layout tree (no real data needed)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from lrface.cli.bench import main as bench_main
from lrface.data.synthetic import SyntheticFaces
from lrface.face.io import write_image
from lrface.models import create_model
from lrface.models.weights import sha256_file, write_manifest_entry


@pytest.fixture(scope="module")
def lfw_like(tmp_path_factory) -> Path:
    """8 synthetic identities x 3 aligned images, and a 2-fold pairs.txt (4+4 pairs per fold)."""
    root = tmp_path_factory.mktemp("lfwlike")
    ds = SyntheticFaces(num_identities=8, images_per_identity=3, seed=5)
    names = [f"Person_{chr(65 + i)}" for i in range(8)]
    for i in range(len(ds)):
        img, label = ds[i]
        write_image(root / "images" / names[label] / f"{names[label]}_{i % 3 + 1:04d}.jpg", img)
    lines = ["2 4"]
    for f in range(2):
        for k in range(4):
            lines.append(f"{names[4 * f + k]}\t1\t{2 + k % 2}")
        for k in range(4):
            lines.append(f"{names[4 * f + k]}\t1\t{names[(4 * f + k + 1) % 8]}\t2")
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("w")
    torch.manual_seed(0)
    for arch in ("lrstudent16", "mobilefacenet_y1"):
        m = create_model(arch).eval()
        path = folder / f"{arch}.pt"
        torch.save(m.state_dict(), path)
        write_manifest_entry(folder, arch, {"file": path.name, "arch": arch, **m.cfg.as_dict(),
                                            "sha256": sha256_file(path), "default_for_res": [16] if arch == "lrstudent16" else []})
    return folder


def test_bench_writes_contract_outputs_and_caches(lfw_like, weights, tmp_path, capsys, monkeypatch, request):
    monkeypatch.setenv("LRFACE_WEIGHTS", str(weights))
    import matplotlib

    previous = matplotlib.get_backend()
    matplotlib.use("svg")  # a backend a caller might have chosen; the runner must keep it
    backend = matplotlib.get_backend()
    request.addfinalizer(lambda: matplotlib.use(previous))
    out = tmp_path / "out"
    args = ["--dataset", "lfw", "--res", "16", "12", "--root", str(lfw_like), "--out", str(out),
            "--cache", str(tmp_path / "cache"), "--model", "lrstudent16", f"teacher:{weights / 'mobilefacenet_y1.pt'}"]
    assert bench_main(args) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "lrstudent16" in printed
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 4  # 2 res x 2 models
    for r in rows:
        for key in ("dataset", "protocol", "mode", "res", "model", "accuracy", "accuracy_std",
                    "tar_at_far_1e-3", "sha256", "images_per_s", "commit", "date", "degrade", "flip"):
            assert key in r, key
        assert 0.0 <= r["accuracy"] <= 1.0 and r["dataset"] == "lfw" and r["mode"] == "lr-lr"
    assert {r["res"] for r in rows} == {16, 12}
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == 4 and "accuracy" in csv.columns
    assert (out / "curves.png").stat().st_size > 1000
    import matplotlib

    assert matplotlib.get_backend() == backend  # drawing the plot left the caller's backend alone
    # Second run: every embedding comes from the cache, results identical.
    assert bench_main(args + ["--out", str(tmp_path / "out2")]) == 0
    rows2 = json.loads((tmp_path / "out2" / "results.json").read_text())
    assert [r["accuracy"] for r in rows2] == [r["accuracy"] for r in rows]
    assert all(r["embedded"] == 0 and r["cache_hits"] > 0 for r in rows2)


def test_default_model_per_res(lfw_like, weights, tmp_path, monkeypatch):
    monkeypatch.setenv("LRFACE_WEIGHTS", str(weights))
    assert bench_main(["--dataset", "lfw", "--res", "16", "--root", str(lfw_like), "--out", str(tmp_path),
                       "--no-cache"]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())
    assert rows[0]["model"] == "lrstudent16" and rows[0]["role"] == "student"


@pytest.mark.parametrize("layout", ["missing_root", "missing_pairs", "missing_images"])
def test_bad_roots_give_one_clear_line(layout, lfw_like, tmp_path, capsys):
    root = tmp_path / "lfw"
    if layout != "missing_root":
        root.mkdir()
        if layout == "missing_images":
            (root / "pairs.txt").write_text((lfw_like / "pairs.txt").read_text())
    code = bench_main(["--dataset", "lfw", "--res", "16", "--root", str(root), "--out", str(tmp_path / "o"),
                       "--no-cache", "--model", "lrstudent16"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert str(root) in err


def test_calibrate_stores_threshold_used_by_verify(lfw_like, weights, tmp_path, capsys):
    import shutil

    from lrface.models.weights import load_model

    folder = tmp_path / "w"
    shutil.copytree(weights, folder)
    model = folder / "lrstudent16.pt"
    assert bench_main(["--dataset", "lfw", "--res", "16", "--root", str(lfw_like), "--out", str(tmp_path / "o"),
                       "--no-cache", "--model", str(model), "--calibrate"]) == 0
    assert "stored threshold" in capsys.readouterr().out
    rows = json.loads((tmp_path / "o" / "results.json").read_text())
    assert load_model(model).weights.threshold == pytest.approx(rows[0]["threshold"], abs=1e-6)
    assert bench_main(["--dataset", "lfw", "--res", "16", "12", "--root", str(lfw_like), "--out", str(tmp_path / "o"),
                       "--no-cache", "--model", str(model), "--calibrate"]) == 2


def test_hr_model_embeds_the_hr_side(lfw_like, weights, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LRFACE_WEIGHTS", str(weights))
    base = ["--dataset", "lfw", "--res", "16", "--root", str(lfw_like), "--mode", "hr-lr", "--no-cache",
            "--model", "lrstudent16"]
    assert bench_main(base + ["--out", str(tmp_path / "a")]) == 0
    assert bench_main(base + ["--hr-model", "lrstudent16", "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())[0]
    b = json.loads((tmp_path / "b" / "results.json").read_text())[0]
    assert a["accuracy"] == b["accuracy"] and b["hr_model"] == "lrstudent16"  # same model: same result
    assert bench_main(base + ["--hr-model", "mobilefacenet_y1", "--out", str(tmp_path / "c")]) == 0
    c = json.loads((tmp_path / "c" / "results.json").read_text())[0]
    assert c["hr_model"].startswith("mobilefacenet_y1") and c["auc"] != a["auc"]
    lr_lr = ["--dataset", "lfw", "--res", "16", "--root", str(lfw_like), "--mode", "lr-lr", "--no-cache",
             "--model", "lrstudent16", "--hr-model", "lrstudent16", "--out", str(tmp_path / "d")]
    assert bench_main(lr_lr) == 2
    assert "applies to --mode hr-lr only" in capsys.readouterr().err
