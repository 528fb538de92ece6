"""The one low-resolution path: lrface.embed and lrface-bench see the same pixels and give the
same embeddings; the view rules are the documented kernels; embed() keeps no hidden state."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lrface.api import _MODEL_CACHE, embed
from lrface.bench import EmbedFn, EmbeddingCache, load_bench_model
from lrface.data.synthetic import SyntheticFaces
from lrface.eval.protocols.base import embed_faces
from lrface.face.degrade import degrade
from lrface.models import create_model
from lrface.models.base import ModelCfg
from lrface.models.inputs import model_input, model_view
from lrface.models.weights import sha256_file, write_manifest_entry


def _save(folder: Path, arch: str, name: str, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    m = create_model(arch).eval()
    path = folder / f"{name}.pt"
    torch.save(m.state_dict(), path)
    write_manifest_entry(folder, name, {"file": path.name, "arch": arch, **m.cfg.as_dict(),
                                        "sha256": sha256_file(path), "degradation": {"preset": "area"}})
    return path


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return SyntheticFaces(num_identities=4, images_per_identity=3).arrays()[0]


@pytest.mark.parametrize("arch", ["mobilefacenet_y1", "lrstudent16", "mobilefacenet_casia"])
@pytest.mark.parametrize("flip", [False, True])
def test_embed_and_bench_give_identical_embeddings(tmp_path, faces, arch, flip):
    path = _save(tmp_path, arch, "m")
    fn = EmbedFn(load_bench_model(str(path)), EmbeddingCache(None), batch_size=256, recipe="area")
    for res in (16, 24):
        bench = embed_faces(fn, faces, res=res, preset="area", flip=flip)
        api = embed(faces, model=str(path), res=res, align=False, flip=flip)
        assert api.dtype == bench.dtype == np.float32
        assert np.array_equal(api, bench), f"{arch} res={res}: max diff {np.abs(api - bench).max()}"


def test_view_rules_are_the_documented_kernels(faces):
    teacher, student = ModelCfg(), ModelCfg(input_size=(16, 16), role="student")
    lr = degrade(faces, 16, "area")
    np.testing.assert_array_equal(lr, np.stack([cv2.resize(f, (16, 16), interpolation=cv2.INTER_AREA) for f in faces]))
    up = model_view(lr, teacher)
    ref = np.stack([cv2.resize(f, (112, 112), interpolation=cv2.INTER_CUBIC) for f in lr])
    assert up.shape == (len(faces), 112, 112, 3) and np.abs(up.astype(int) - ref).max() <= 1
    np.testing.assert_array_equal(model_view(faces, student), lr)  # HR -> native: area
    np.testing.assert_array_equal(model_view(lr, student), lr)  # already native: untouched
    casia = ModelCfg(input_size=(112, 96), template="arcface_112x96")
    np.testing.assert_array_equal(model_view(faces, casia), faces[:, :, 8:104])
    x = model_input(faces, teacher, res=16)
    assert x.shape == (len(faces), 3, 112, 112) and x.dtype == torch.float32
    torch.testing.assert_close(x, model_input(lr, teacher))  # res given or faces already LR: same


def test_model_input_rejects_bad_faces():
    with pytest.raises(ValueError, match="uint8 RGB"):
        model_view(np.zeros((2, 16, 16), np.uint8), ModelCfg())
    with pytest.raises(ValueError, match="uint8 RGB"):
        model_view(np.zeros((1, 16, 16, 3), np.float32), ModelCfg())


def test_changed_weights_file_is_reloaded(tmp_path, faces):
    path = _save(tmp_path, "lrstudent16", "s", seed=0)
    first = embed(faces[:2], model=str(path), align=False)
    assert np.array_equal(first, embed(faces[:2], model=str(path), align=False))
    _save(tmp_path, "lrstudent16", "s", seed=1)  # same path, new weights and sha256
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a coarse clock must still see it
    second = embed(faces[:2], model=str(path), align=False)
    assert not np.allclose(first, second)


def test_a_callers_model_is_never_moved_or_cached(faces):
    m = create_model("lrstudent16").eval()
    before = len(_MODEL_CACHE)
    with pytest.raises(ValueError, match="does not move a caller's model"):
        embed(faces[:1], model=m, align=False, device="meta")
    assert next(m.parameters()).device.type == "cpu"
    embed(faces[:1], model=m, align=False, device="cpu")
    assert len(_MODEL_CACHE) == before


def test_cache_key_covers_recipe_and_version(faces):
    c = EmbeddingCache(None)
    base = c.space("sha", 16, extra="area")
    assert base != c.space("sha", 16, extra="surveillance") and base != c.space("sha", 12, extra="area")
    import lrface.bench as bench

    old = bench.CACHE_VERSION
    try:
        bench.CACHE_VERSION = old + 1
        assert c.space("sha", 16, extra="area") != base
    finally:
        bench.CACHE_VERSION = old
    keys = c.face_keys(faces[:3])
    assert len(set(keys)) == 3 and keys == c.face_keys(faces[:3].copy())


def test_cache_serves_any_subset_seen_before(tmp_path, faces):
    path = _save(tmp_path, "lrstudent16", "s")
    bm = load_bench_model(str(path))
    first = EmbedFn(bm, EmbeddingCache(tmp_path / "c"), batch_size=5, recipe="area")
    full = first(faces, 16)
    again = EmbedFn(bm, EmbeddingCache(tmp_path / "c"), batch_size=5, recipe="area")  # a new process, say
    sub = again(faces[[7, 2, 9]], 16)
    assert again.images == 0 and again.cache.hits == 3
    np.testing.assert_array_equal(sub, full[[7, 2, 9]])


def test_embed_and_bench_refuse_an_architecture_without_weights(faces):
    from lrface.errors import WeightsError

    with pytest.raises(WeightsError, match="without trained weights"):
        embed(faces[:1], model="lrstudent16", align=False)
    with pytest.raises(WeightsError, match="without trained weights"):
        load_bench_model("teacher:mobilefacenet_y1")
