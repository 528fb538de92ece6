"""Consistent teacher views: jittered copies of each training face, the same for the teacher's
cache and the student's batch, keyed by face content."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lrface.data.packed import PackedFaces
from lrface.data.synthetic import SyntheticFaces
from lrface.distill.cache import TeacherCache, face_digests
from lrface.distill.config import DistillConfig, ViewsCfg
from lrface.distill.trainer import epoch_plan, make_batch
from lrface.distill.views import render_views
from lrface.models import create_model
from lrface.models.inputs import inference_copy, model_input


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return SyntheticFaces(num_identities=3, images_per_identity=3).arrays()[0]


def test_views_are_keyed_by_face_content(faces):
    spec = ViewsCfg(count=2)
    dig = face_digests(faces)
    a = render_views(spec, faces, dig, np.full(len(faces), 2))
    assert not np.array_equal(a, faces)
    # the same face at another position, alone, gives the same jittered view
    np.testing.assert_array_equal(render_views(spec, faces[4:5], dig[4:5], 2)[0], a[4])
    assert not np.array_equal(render_views(spec, faces, dig, 3), a)  # another view index
    np.testing.assert_array_equal(render_views(spec, faces, dig, 1), faces[:, :, ::-1])
    np.testing.assert_array_equal(render_views(spec, faces, dig, 0), faces)
    assert not np.array_equal(render_views(ViewsCfg(count=2, seed=1), faces, dig, 2), a)


def test_cache_holds_the_teacher_embedding_of_each_view_and_the_batch_shows_it(faces, tmp_path):
    pack = PackedFaces.from_arrays(faces, np.repeat(np.arange(3), 3), ["a", "b", "c"])
    torch.manual_seed(0)
    teacher = create_model("assistant").eval()
    spec = ViewsCfg(count=2)
    cache = TeacherCache.build(teacher, "sha-test", pack, tmp_path, batch_size=4, progress=False, views=spec)
    assert cache.emb.shape == (9, 4, teacher.embedding_size) and cache.info["views"] == 4
    cfg = DistillConfig(res=16, views=spec, augment=DistillConfig().augment)
    order, views, preset = epoch_plan(cfg, pack, 0, len(pack.images))
    assert set(np.unique(views)) <= {0, 1, 2, 3} and (views >= 2).any()
    idx = np.arange(9)
    hr, lr = make_batch(cfg, pack, idx, views, preset, 0, digests=cache.digests)
    assert lr.shape == (9, 16, 16, 3)
    with torch.inference_mode():
        live = inference_copy(teacher)(model_input(hr, teacher, channels_last=True))
    torch.testing.assert_close(cache.embeddings(idx, views[idx]), live, atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="digests"):
        make_batch(cfg, pack, idx, np.full(9, 2), preset, 0)
    # other view settings: a new cache, which takes only the face and mirror views from this one
    other = TeacherCache.build(teacher, "sha-test", pack, tmp_path, batch_size=4, progress=False,
                               views=ViewsCfg(count=1, rotate=2.0))
    assert other.info["reused_views"] == 18 and other.emb.shape[1] == 3
    np.testing.assert_array_equal(np.asarray(other.emb[:, :2]), np.asarray(cache.emb[:, :2]))
    # the same settings with more views reuse the views they share
    more = TeacherCache.build(teacher, "sha-test", pack, tmp_path, batch_size=4, progress=False,
                              views=ViewsCfg(count=3))
    assert more.info["reused_views"] == 9 * 4
    np.testing.assert_array_equal(np.asarray(more.emb[:, :4]), np.asarray(cache.emb))


def test_no_views_keeps_the_plan_of_earlier_runs(faces):
    pack = PackedFaces.from_arrays(faces, np.repeat(np.arange(3), 3), ["a", "b", "c"])
    cfg = DistillConfig()
    _, views, _ = epoch_plan(cfg, pack, 5, 9)
    rng = np.random.default_rng([cfg.seed, 5, 1])
    np.testing.assert_array_equal(views, (rng.random(9) < 0.5).astype(np.int64))
    with pytest.raises(ValueError, match="views.count"):
        epoch_plan(DistillConfig(views=ViewsCfg(count=-1)), pack, 0, 9)


def test_a_run_with_views_trains_and_records_them(tmp_path, monkeypatch):
    from pathlib import Path

    from lrface.config import load_config
    from lrface.distill.loop import train_distill

    monkeypatch.setenv("LRFACE_CACHE", str(tmp_path / "cache"))
    smoke = Path(__file__).resolve().parent.parent / "benchmarks" / "configs" / "smoke.yaml"
    cfg = load_config(DistillConfig, smoke, ["views.count=2", "optim.epochs=1", "assistant=null",
                                              "losses={mimic: {weight: 1.0, kind: cosine}}"])
    student = train_distill(cfg, tmp_path / "run", progress=False)
    assert student.is_file()
    assert "count: 2" in (tmp_path / "run" / "config.yaml").read_text()
    (folder,) = [p for p in (tmp_path / "cache" / "teacher").iterdir() if "-j" in p.name]
    assert np.load(folder / "emb.npy", mmap_mode="r").shape[1] == 4
