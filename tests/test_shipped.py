"""The shipped models (lrface/weights): integrity, one embedding space, and a regression test
of the LFW figures against the manifest.

The LFW checks run the full View-2 10 folds (6,000 pairs, flip-TTA, as in the manifest) with a
fresh embedding cache, so nothing measured earlier is reused; they need ``../shared/data/lfw``
and skip without it. Tolerance: 0.5 points (30 of 6,000 pairs), for float differences between
CPUs; on the machine that produced the figures the difference is 0. ``lrface-lr`` is checked at
16 px only (each size costs a minute or two on 2 CPU cores).
"""
from __future__ import annotations

import numpy as np
import pytest

from lrface.models.weights import PACKAGE_WEIGHTS, load_model, read_manifest

SHIPPED = read_manifest(PACKAGE_WEIGHTS)
TOLERANCE = 0.005
FARS = {"1e-2", "1e-3", "1e-4"}

needs_models = pytest.mark.skipif(not SHIPPED, reason="no shipped models in lrface/weights/MANIFEST.yaml")


def _tables(meta):
    """Every threshold table of an entry: {label: {far: t}}."""
    out = {}
    for key in ("thresholds", "thresholds_hr"):
        if key in meta:
            out[key] = meta[key]
    for key in ("thresholds_by_res", "thresholds_hr_by_res"):
        for r, t in (meta.get(key) or {}).items():
            out[f"{key}[{r}]"] = t
    return out


@needs_models
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_manifest_entry_is_complete_and_weights_verify(name):
    e = SHIPPED[name]
    m = e.meta
    for key in ("sha256", "input_size", "mean", "std", "template", "embedding_size", "kind", "provenance", "metrics",
                "terms", "threshold_note"):
        assert key in m, f"{name}: manifest entry lacks {key}"
    assert m["kind"] in ("hr", "lr")
    assert "quality_ref" in m or "quality_ref_by_res" in m
    tables = _tables(m)
    assert tables, f"{name}: no calibrated thresholds"
    for label, t in tables.items():
        assert FARS <= set(t), f"{name} {label}"
        by_far = [t[k] for k in sorted(t, key=float, reverse=True)]
        assert by_far == sorted(by_far), f"{name} {label}: thresholds must rise as the FAR falls"
    if m["kind"] == "lr":
        assert any(k.startswith("thresholds_hr") for k in tables), f"{name}: no thresholds against lrface-hr"
        assert m["degradation"]["preset"] == "area"
    assert any(k.startswith("lfw_") for k in m["metrics"])
    model = load_model(name)  # sha256-checked, weights_only
    assert model.embedding_size == 128
    size = e.path.stat().st_size
    if name.startswith("lrface-s"):  # compact students
        assert sum(p.numel() for p in model.parameters()) <= 1_000_000 and size < 5_000_000
    elif name == "lrface-hr":  # dlib's ResNet in half precision (LFW moves by less than 0.05 points)
        assert size < 12_000_000 and m.get("storage") == "float16"
    else:  # lrface-lr: half precision moved LFW by more than 0.05 points, so it ships in float32
        assert m.get("storage") in ("float16", "float32") and size < (12_000_000 if m["storage"] == "float16" else 23_000_000)


@needs_models
def test_license_of_the_public_domain_model_ships_beside_it():
    text = (PACKAGE_WEIGHTS / "LICENSE-dlib.txt").read_text()
    assert "CC0" in text and "public domain" in text
    assert SHIPPED["lrface-hr"].meta["terms"].startswith("CC0")


@needs_models
def test_every_size_has_an_accurate_and_a_fast_model():
    from lrface.models.zoo import HR_RES, shipped_by_res

    acc = {r: e.name for r, e in shipped_by_res().items() if e.name in SHIPPED}
    fast = {r: e.name for r, e in shipped_by_res("speed").items() if e.name in SHIPPED}
    assert sorted(acc) == [8, 12, 16, 20, 24, 32, HR_RES]
    assert set(acc.values()) == {"lrface-lr", "lrface-hr"}
    assert {fast[r] for r in (8, 12, 16, 20, 24, 32)} == {f"lrface-s{r}" for r in (8, 12, 16, 20, 24, 32)}
    assert fast[HR_RES] == "lrface-hr"
    assert load_model(res=16).weights.name == "lrface-lr"


@needs_models
def test_embed_is_bitwise_stable_and_models_share_a_space(mtcnn_weights):
    import matplotlib

    import lrface

    photo = f"{matplotlib.get_data_path()}/sample_data/grace_hopper.jpg"
    a, info = lrface.embed(photo, return_info=True)
    b = lrface.embed(photo)
    assert np.array_equal(a, b)  # bitwise, across calls
    assert info[0].model == "lrface-hr"
    # The same face at 16 px, by the accurate LR model and by the fast student, lands nearer the
    # photo's HR embedding than other faces' HR embeddings do: one shared space. (Acceptance
    # rates at the calibrated thresholds are measured on LFW, benchmarks/operating_points.py;
    # this one photo at 16 px scores below the FAR 1e-2 threshold.)
    from lrface.data.synthetic import SyntheticFaces

    others = lrface.embed(list(SyntheticFaces(num_identities=4, images_per_identity=1).arrays()[0]),
                          model="lrface-hr", align=False, check_face=False)
    for prefer, want in (("accuracy", "lrface-lr"), ("speed", "lrface-s16")):
        e16, i16 = lrface.embed(photo, res=16, prefer=prefer, return_info=True)
        assert i16[0].model == want and i16[0].res == 16
        assert float(a[0] @ e16[0]) > float((others @ e16[0]).max())


@needs_models
@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_lfw_accuracy_matches_the_manifest(name, lfw_dir, tmp_path_factory):
    from lrface.bench import run

    cache = tmp_path_factory.getbasetemp() / "shipped-cache"  # fresh for this session, shared by the models
    m = SHIPPED[name].meta
    res = 112 if m["kind"] == "hr" else (16 if name == "lrface-lr" else int(m["fast_for_res"][0]))
    row = run("lfw", [res], [name], mode="lr-lr", flip=True, cache_dir=cache, root=str(lfw_dir))[0]
    assert row["accuracy"] == pytest.approx(m["metrics"][f"lfw_lr_lr_{res}_accuracy"], abs=TOLERANCE)
    if m["kind"] == "lr":
        row = run("lfw", [res], [name], mode="hr-lr", flip=True, cache_dir=cache, root=str(lfw_dir),
                  hr_model="lrface-hr")[0]
        assert row["accuracy"] == pytest.approx(m["metrics"][f"lfw_hr_lr_{res}_accuracy"], abs=TOLERANCE)
