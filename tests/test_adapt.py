"""``lrface-train adapt`` and the pieces it adds to the training loop: batches mixing LR sizes,
validation at several sizes, a fixed overlap judge, an LR-view teacher for students."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lrface.config import ConfigError, from_dict
from lrface.distill.config import AdaptConfig, DistillConfig, ModelSpec
from lrface.distill.trainer import make_batch, sample_sizes
from lrface.models import create_model
from lrface.models.inputs import model_input
from lrface.models.weights import load_model, sha256_file, write_manifest_entry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def pretrained(tmp_path: Path) -> Path:
    """A small 'pretrained' HR model with a manifest entry (random weights: the loop, not accuracy)."""
    torch.manual_seed(0)
    m = create_model("assistant").eval()
    path = tmp_path / "hr.pt"
    torch.save(m.state_dict(), path)
    write_manifest_entry(tmp_path, "hr", {"file": path.name, "arch": "assistant", **m.cfg.as_dict(),
                                          "sha256": sha256_file(path)})
    return path


def _adapt_cfg(pretrained: Path, **over) -> dict:
    cfg = {"name": "t", "model": str(pretrained), "sizes": [8, 12, 16], "val_sizes": [8, 16],
           "data": {"synthetic": {"identities": 10, "images_per_identity": 5}, "val_fraction": 0.3, "val_pairs": 40,
                    "exclude": {"dataset": "none"}},
           "optim": {"optimizer": "adamw", "lr": 1e-4, "epochs": 2, "batch_size": 8, "warmup_epochs": 0.5},
           "log_every": 1, "checkpoint_every": 2}
    cfg.update(over)
    return cfg


def test_adapt_config_becomes_a_self_distillation(pretrained):
    cfg = from_dict(AdaptConfig, _adapt_cfg(pretrained, input_size=96)).to_distill()
    assert cfg.teacher.weights == cfg.student.weights == str(pretrained)
    assert cfg.teacher.arch == cfg.student.arch == "assistant"
    assert cfg.res_mix == (8, 12, 16) and cfg.validation_sizes == (8, 16) and cfg.student.input_size == 96
    with pytest.raises(ValueError, match="set model"):
        AdaptConfig().to_distill()
    with pytest.raises(ValueError, match="sizes"):
        from_dict(AdaptConfig, _adapt_cfg(pretrained, sizes=[2, 16])).to_distill()
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(AdaptConfig, _adapt_cfg(pretrained, epochs=3))


def test_mixed_sizes_are_seeded_per_face_and_viewed_as_one_batch():
    from lrface.data.packed import PackedFaces
    from lrface.data.synthetic import SyntheticFaces

    faces, labels = SyntheticFaces(num_identities=4, images_per_identity=3).arrays()
    pack = PackedFaces.from_arrays(faces, labels, [f"id{i}" for i in range(4)])
    cfg = DistillConfig(res_mix=(8, 16, 24))
    s0, s1 = sample_sizes(cfg, 0, len(faces)), sample_sizes(cfg, 1, len(faces))
    assert set(s0) <= {8, 16, 24} and np.array_equal(s0, sample_sizes(cfg, 0, len(faces))) and not np.array_equal(s0, s1)
    idx = np.arange(len(faces))
    hr, lr = make_batch(cfg, pack, idx, np.zeros(len(faces), np.int64), np.zeros(len(faces), np.int64), 0)
    assert isinstance(lr, list) and [f.shape[0] for f in lr] == list(s0)
    student = create_model("lrstudent16")
    x = model_input(lr, student)
    assert x.shape == (len(faces), 3, 16, 16)
    # each face is viewed exactly as it would be alone
    k = int(np.flatnonzero(s0 == 24)[0])
    torch.testing.assert_close(x[k:k + 1], model_input(lr[k], student))
    assert np.array_equal(sample_sizes(DistillConfig(res=12), 0, 5), np.full(5, 12))


def test_adapt_trains_validates_at_each_size_and_resumes(pretrained, tmp_path, monkeypatch):
    from lrface.distill.loop import train_distill

    monkeypatch.setenv("LRFACE_CACHE", str(tmp_path / "cache"))
    cfg = from_dict(AdaptConfig, _adapt_cfg(pretrained, input_size=96)).to_distill()
    out = train_distill(cfg, tmp_path / "run", progress=False, product="adapted")
    assert out.name == "adapted.pt"
    import pandas as pd

    m = pd.read_csv(tmp_path / "run" / "metrics.csv")
    v = m.dropna(subset=["val_auc"]).iloc[-1]
    assert v["val_auc"] == pytest.approx((v["val_auc_8"] + v["val_auc_16"]) / 2)
    entry = yaml.safe_load((tmp_path / "run" / "MANIFEST.yaml").read_text())["models"]["t-adapted"]
    assert entry["degradation"]["sizes"] == [8, 12, 16] and entry["input_size"] == [96, 96]
    model = load_model(out)
    assert model.cfg.input_size == (96, 96)
    # the weights moved away from the pretrained ones (it trained), the same command again is a no-op
    before = torch.load(pretrained, weights_only=True)
    after = torch.load(out, weights_only=True)
    assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())
    assert train_distill(cfg, tmp_path / "run", progress=False, product="adapted") == out


def test_adapt_cli_smoke_config_is_valid():
    cfg = yaml.safe_load((ROOT / "benchmarks" / "configs" / "adapt_smoke.yaml").read_text())
    acfg = from_dict(AdaptConfig, cfg)
    assert acfg.model == "lrface-hr" and acfg.data.synthetic is not None


def test_lr_view_teacher_targets_are_the_teachers_embedding_of_the_students_view(pretrained, tmp_path, monkeypatch):
    """teacher_view: lr runs the (LR-adapted) teacher on the student's own LR view."""
    from lrface.distill.loop import train_distill

    monkeypatch.setenv("LRFACE_CACHE", str(tmp_path / "cache"))
    raw = {"name": "s", "res": 16, "teacher": {"arch": "assistant", "weights": str(pretrained)}, "teacher_view": "lr",
           "losses": {"mimic": {"weight": 1.0, "kind": "mse"}},
           "data": {"synthetic": {"identities": 8, "images_per_identity": 4}, "val_fraction": 0.25, "val_pairs": 30,
                    "exclude": {"dataset": "none"}},
           "optim": {"lr": 0.05, "epochs": 1, "batch_size": 8}, "log_every": 1}
    out = train_distill(from_dict(DistillConfig, raw), tmp_path / "run", progress=False)
    assert out.is_file()
    with pytest.raises(ValueError, match="teacher_view"):
        train_distill(from_dict(DistillConfig, {**raw, "name": "bad", "teacher_view": "both"}), tmp_path / "bad",
                      progress=False)


def test_student_input_size_override(pretrained):
    from lrface.distill.loop import _init_student

    cfg = DistillConfig(student=ModelSpec(arch="assistant", weights=str(pretrained), input_size=64))
    assert _init_student(cfg, "cpu").cfg.input_size == (64, 64)


def test_adapt_can_start_from_other_weights_than_its_targets(pretrained, tmp_path):
    cfg = from_dict(AdaptConfig, _adapt_cfg(pretrained, init=str(pretrained))).to_distill()
    assert cfg.student.weights == str(pretrained) and cfg.teacher.weights == str(pretrained)


def test_runs_recorded_before_an_option_existed_still_resume():
    from lrface.distill.loop import same_config

    old = "a: 1\nb: {c: 2}\n"
    assert same_config(old, "a: 1\nb: {c: 2, reuse: null}\n")  # a new option, off
    assert not same_config(old, "a: 1\nb: {c: 2, reuse: x.json}\n")  # a new option, on
    assert not same_config(old, "a: 1\nb: {c: 3}\n") and not same_config(None, old)
    assert not same_config("a: 1\nz: 0\n", "a: 1\n")  # an option removed


def test_anchored_students_live_in_the_teachers_raw_space(pretrained, tmp_path, monkeypatch):
    """An anchored student's embedding is the teacher's mean plus a learned direction at the
    teacher's mean radius; the trainer sets both from the teacher cache."""
    from lrface.distill.loop import train_distill

    net = create_model("lrstudent16", anchored=True).eval()
    net.set_anchor(torch.full((128,), 0.5), 0.25)
    e = net(torch.randn(3, 3, 16, 16))
    assert torch.allclose((e - 0.5).norm(dim=1), torch.full((3,), 0.25), atol=1e-5)
    with pytest.raises(ValueError, match="anchored"):
        create_model("lrstudent16").set_anchor(torch.zeros(128), 1.0)
    monkeypatch.setenv("LRFACE_CACHE", str(tmp_path / "cache"))
    raw = {"name": "a", "res": 16, "teacher": {"arch": "assistant", "weights": str(pretrained)},
           "student": {"arch": "lrstudent16", "kwargs": {"anchored": True}},
           "losses": {"mimic": {"weight": 1.0, "kind": "cosine", "center": True}},
           "data": {"synthetic": {"identities": 8, "images_per_identity": 4}, "val_fraction": 0.25, "val_pairs": 30,
                    "exclude": {"dataset": "none"}},
           "optim": {"lr": 0.05, "epochs": 1, "batch_size": 8}, "log_every": 1}
    out = train_distill(from_dict(DistillConfig, raw), tmp_path / "run", progress=False)
    student = load_model(out)
    assert student.anchored and float(student.anchor_radius) > 0 and student.anchor_center.abs().sum() > 0
