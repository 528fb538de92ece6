"""The shipped models (lrface/weights): integrity, one embedding space, and a regression test
of every model's LFW figure against its manifest.

The LFW check runs the full View-2 10 folds (6,000 pairs, flip-TTA, as in the manifest) with a
fresh embedding cache, so nothing measured earlier is reused; it needs ``../shared/data/lfw``
and skips without it. Tolerance: 0.5 points (30 of 6,000 pairs), for float differences between
CPUs; on the machine that produced the figures the difference is 0.
"""
from __future__ import annotations

import numpy as np
import pytest

from lrface.models.weights import PACKAGE_WEIGHTS, load_model, read_manifest

SHIPPED = read_manifest(PACKAGE_WEIGHTS)
TOLERANCE = 0.005

needs_models = pytest.mark.skipif(not SHIPPED, reason="no shipped models in lrface/weights/MANIFEST.yaml")


@needs_models
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_manifest_entry_is_complete_and_weights_verify(name):
    e = SHIPPED[name]
    m = e.meta
    for key in ("sha256", "input_size", "mean", "std", "template", "embedding_size", "default_for_res", "role",
                "thresholds", "quality_ref", "provenance", "metrics"):
        assert key in m, f"{name}: manifest entry lacks {key}"
    assert set(m["thresholds"]) == {"1e-2", "1e-3"} and m["thresholds"]["1e-2"] < m["thresholds"]["1e-3"]
    if m["role"] != "assistant":
        assert set(m["thresholds_hr"]) == {"1e-2", "1e-3"}
        assert m["degradation"]["res"] == m["default_for_res"][0]
    prov = m["provenance"]
    for key in ("teacher_sha256", "commit", "data", "overlap_guard", "recipe"):
        assert key in prov, f"{name}: provenance lacks {key}"
    assert "lfw_lr_lr_accuracy" in m["metrics"]
    model = load_model(name)  # sha256-checked, weights_only
    assert model.embedding_size == 128
    assert sum(p.numel() for p in model.parameters()) <= 1_000_000
    assert e.path.stat().st_size < 5_000_000


@needs_models
def test_one_model_per_resolution_and_a_default():
    from lrface.models.zoo import HR_RES, shipped_by_res

    table = {r: e.name for r, e in shipped_by_res().items() if e.name in SHIPPED}
    assert sorted(table) == [8, 12, 16, 20, 24, 32, HR_RES]
    assert load_model().weights.name == table[16]


@needs_models
def test_embed_is_bitwise_stable_and_models_share_a_space(mtcnn_weights):
    import matplotlib

    import lrface

    photo = f"{matplotlib.get_data_path()}/sample_data/grace_hopper.jpg"
    a = lrface.embed(photo, flip=True)
    b = lrface.embed(photo, flip=True)
    assert np.array_equal(a, b)  # bitwise, across calls
    # The same face by the HR model (the photo's face is ~260 px) and at 16 px by a student
    # lands close in the shared space: accepted at the pair's FAR 1e-3 threshold.
    from lrface.api import pair_threshold
    from lrface.models.weights import available_weights

    e, info = lrface.embed(photo, flip=True, return_info=True)
    e16, info16 = lrface.embed(photo, res=16, flip=True, return_info=True)
    w = available_weights()
    assert w[info[0].model].meta["role"] == "assistant" and info16[0].model != info[0].model
    assert float(e[0] @ e16[0]) >= pair_threshold(w[info[0].model], w[info16[0].model], 1e-3)


@needs_models
@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_lfw_accuracy_matches_the_manifest(name, lfw_dir, tmp_path_factory):
    from lrface.bench import run
    from lrface.models.zoo import HR_RES

    cache = tmp_path_factory.getbasetemp() / "shipped-cache"  # fresh for this session, shared by the models
    e = SHIPPED[name]
    res = int(e.meta["default_for_res"][0])
    row = run("lfw", [res], [name], mode="lr-lr", flip=True, cache_dir=cache, root=str(lfw_dir))[0]
    assert row["accuracy"] == pytest.approx(e.meta["metrics"]["lfw_lr_lr_accuracy"], abs=TOLERANCE)
    if res < HR_RES:
        hr = next(n for n, x in SHIPPED.items() if x.meta.get("role") == "assistant")
        row = run("lfw", [res], [name], mode="hr-lr", flip=True, cache_dir=cache, root=str(lfw_dir), hr_model=hr)[0]
        assert row["accuracy"] == pytest.approx(e.meta["metrics"]["lfw_hr_lr_accuracy"], abs=TOLERANCE)
