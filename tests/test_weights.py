"""load_model: sha256-verified, weights_only loading; pickles and unverified files refused."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

import lrface
from lrface.errors import WeightsError
from lrface.models import create_model
from lrface.models.weights import (
    available_weights,
    default_for_res,
    load_model,
    sha256_file,
    write_manifest_entry,
)


def _save_student(folder: Path, name: str = "tiny16", default: bool = True) -> Path:
    torch.manual_seed(0)
    m = create_model("lrstudent16").eval()
    path = folder / f"{name}.pt"
    torch.save(m.state_dict(), path)
    entry = {"file": path.name, "arch": "lrstudent16", **m.cfg.as_dict(), "sha256": sha256_file(path),
             "threshold": 0.3, "degradation": {"preset": "area", "res": 16}}
    if default:
        entry["default_for_res"] = [16]
    write_manifest_entry(folder, name, entry)
    return path


def test_load_by_path_and_by_name(tmp_path, monkeypatch):
    path = _save_student(tmp_path)
    m = load_model(path)
    assert not m.training and m.weights.threshold == 0.3 and m.input_size == (16, 16)
    monkeypatch.setenv("LRFACE_WEIGHTS", str(tmp_path))
    assert "tiny16" in available_weights()
    assert default_for_res(16).name == "tiny16"
    m2 = lrface.load_model(res=16)  # the default for res 16
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(m(x), m2(x))
    with pytest.raises(WeightsError, match="no default model for res=9"):
        load_model(res=9)  # no manifest declares 9 px (embed() would pick the 8 px model)


def test_tampered_file_fails_sha256(tmp_path):
    path = _save_student(tmp_path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        load_model(path)


def test_pickled_checkpoint_refused_without_trust(tmp_path):
    m = create_model("lrstudent16")

    # Old training scripts pickled their argparse options next to the weights; only full
    # unpickling (which can run code) restores such objects.
    path = tmp_path / "legacy.pt"
    torch.save({"epoch": 3, "net_state_dict": m.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    write_manifest_entry(tmp_path, "legacy", {"file": "legacy.pt", "arch": "lrstudent16",
                                             "sha256": sha256_file(path)})
    with pytest.raises(WeightsError, match="not a plain state dict"):
        load_model(path)
    loaded = load_model(path, trust=True)
    assert isinstance(loaded, torch.nn.Module)


def test_unverified_file_needs_trust_and_arch(tmp_path):
    m = create_model("lrstudent16")
    path = tmp_path / "loose.pt"
    torch.save(m.state_dict(), path)
    with pytest.raises(WeightsError, match="no manifest entry"):
        load_model(path)
    with pytest.raises(WeightsError, match="cannot be verified"):
        load_model(path, arch="lrstudent16")
    assert load_model(path, arch="lrstudent16", trust=True).input_size == (16, 16)


def test_wrong_architecture_and_unknown_name(tmp_path):
    path = _save_student(tmp_path)
    write_manifest_entry(tmp_path, "tiny16", {"file": path.name, "arch": "lrstudent32",
                                             "sha256": sha256_file(path)})
    with pytest.raises(WeightsError, match="does not fit architecture"):
        load_model(path)
    with pytest.raises(WeightsError, match="unknown model"):
        load_model("no-such-model")


def test_every_listed_name_loads(tmp_path, monkeypatch, caplog):
    """list_models() is the set of names load_model() accepts (timm's list/create contract)."""
    from lrface.models import list_models as list_architectures

    _save_student(tmp_path, "tiny16")
    monkeypatch.setenv("LRFACE_WEIGHTS", str(tmp_path))
    names = lrface.list_models()
    assert set(list_architectures()) <= set(names) and "tiny16" in names
    from lrface.models.weights import PACKAGE_WEIGHTS, read_manifest

    shipped = sorted(read_manifest(PACKAGE_WEIGHTS))  # the package's own models, if any
    assert lrface.list_models(pretrained=True) == sorted(["tiny16", *shipped])
    assert lrface.list_models("lrstudent1*") == ["lrstudent12", "lrstudent16"]
    assert lrface.list_models("tiny*", pretrained=True) == ["tiny16"]
    x = torch.randn(2, 3, 16, 16)
    for name in names:
        with caplog.at_level("WARNING", logger="lrface.models.weights"):
            caplog.clear()
            m = load_model(name)
        assert isinstance(m, torch.nn.Module) and not m.training, name
        if name == "tiny16" or name in shipped:  # names with weights: loaded, no warning
            assert m.weights.name == name and not caplog.records
        else:  # an architecture: random init, and the user is told so
            assert m.weights is None, name
            assert any("randomly initialised" in r.getMessage() for r in caplog.records), name
    e = load_model("tiny16").embed(x)
    assert e.shape == (2, 128) and torch.allclose(e.norm(dim=1), torch.ones(2))


def test_weights_named_like_an_architecture_win(tmp_path, monkeypatch):
    path = _save_student(tmp_path, "lrstudent16", default=False)
    monkeypatch.setenv("LRFACE_WEIGHTS", str(tmp_path))
    assert lrface.list_models("lrstudent16") == ["lrstudent16"]  # listed once
    m = load_model("lrstudent16")
    assert m.weights is not None and m.weights.path == path


def test_unknown_name_suggests_close_names():
    with pytest.raises(WeightsError, match=r"unknown model 'iresnet5'.*Did you mean 'iresnet50'"):
        load_model("iresnet5")


def test_shipped_manifest_is_found_through_the_package():
    """The shipped manifest is package data (lrface/weights), located with importlib.resources."""
    from importlib.resources import files

    from lrface.models.weights import PACKAGE_WEIGHTS, manifest_folders, package_weights_dir

    res = files("lrface") / "weights" / "MANIFEST.yaml"
    assert res.is_file()
    assert package_weights_dir() == PACKAGE_WEIGHTS == Path(str(res)).parent
    assert Path(lrface.__file__).resolve().parent / "weights" == package_weights_dir().resolve()
    assert manifest_folders()[0] == package_weights_dir()


def test_setup_cfg_ships_the_weights_as_package_data():
    import configparser

    root = Path(__file__).resolve().parent.parent
    cfg = configparser.ConfigParser()
    cfg.read(root / "setup.cfg")
    shipped = cfg["options.package_data"]["lrface"].split()
    assert {"weights/MANIFEST.yaml", "weights/*.pt"} <= set(shipped)


@pytest.mark.slow
def test_wheel_contains_the_weights(tmp_path):
    """A real (non-editable) build: the wheel holds lrface/weights/MANIFEST.yaml."""
    import subprocess
    import sys
    import zipfile

    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    import shutil

    root = Path(__file__).resolve().parent.parent
    src = tmp_path / "src"  # build a copy: a build leaves build/ and *.egg-info behind
    shutil.copytree(root, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info",
                                                             "__pycache__", ".pytest_cache", "out", "runs"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, timeout=600)
    (whl,) = (tmp_path / "dist").glob("lrface-*.whl")
    assert "lrface/weights/MANIFEST.yaml" in zipfile.ZipFile(whl).namelist()
