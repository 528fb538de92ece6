"""Metrics: checked against scikit-learn, brute force and hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from lrface.eval.identification import identity_scores, probe_ranks
from lrface.eval.metrics import (
    best_threshold,
    cmc,
    dir_at_far,
    eer,
    fnir_at_fpir,
    kfold_verification,
    rank_k,
    rate_key,
    roc,
    roc_auc,
    tar_at_far,
)


def _random(seed: int, n: int = 400, ties: bool = False):
    r = np.random.default_rng(seed)
    y = r.random(n) < 0.4
    s = r.normal(size=n) + 1.2 * y
    if ties:
        s = np.round(s, 1)  # many equal scores across both classes
    return s, y


# --------------------------------------------------------------------------- verification
@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_roc_and_auc_match_sklearn(seed, ties):
    s, y = _random(seed, ties=ties)
    fpr, tpr, thr = roc(s, y)
    f2, t2, th2 = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(thr[1:], th2[1:])
    assert thr[0] == np.inf
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_roc_hand_case_and_input_checks():
    fpr, tpr, thr = roc(np.array([0.9, 0.4, 0.6]), np.array([True, True, False]))
    assert fpr.tolist() == [0, 0, 1, 1] and tpr.tolist() == [0, 0.5, 0.5, 1]
    assert thr[1:].tolist() == [0.9, 0.6, 0.4]
    with pytest.raises(ValueError, match="both genuine"):
        roc(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="NaN"):
        roc(np.array([np.nan, 0.2]), np.array([1, 0]))
    with pytest.raises(ValueError, match="equal length"):
        roc(np.array([0.1, 0.2, 0.3]), np.array([1, 0]))
    with pytest.raises(ValueError, match="0/1"):
        roc(np.array([0.1, 0.2]), np.array([2, 0]))


@pytest.mark.parametrize("seed,ties", [(3, False), (4, True)])
def test_tar_at_far_matches_brute_force(seed, ties):
    s, y = _random(seed, n=600, ties=ties)
    fars = (0.5, 0.1, 0.01, 0.003, 0.0)
    got = tar_at_far(s, y, fars)
    gen, imp = s[y], s[~y]
    for far in fars:
        best = 0.0
        for t in np.r_[np.unique(s), np.inf]:
            if np.sum(imp >= t) <= far * imp.size + 1e-9:
                best = max(best, float(np.mean(gen >= t)))
        assert got[f"tar_at_far_{rate_key(far)}"] == pytest.approx(best)


def test_tar_at_far_exact_count_boundary():
    # 1000 impostors: FAR 1e-3 allows exactly one false accept (0.001 * 1000 must not round down).
    imp = np.linspace(0, 1, 1000)
    s = np.r_[imp, [0.9995, 0.5]]
    y = np.r_[np.zeros(1000, bool), [True, True]]
    assert tar_at_far(s, y, (1e-3,))["tar_at_far_1e-3"] == 0.5  # accepts 0.9995 (> 0.999), only imp 1.0
    assert tar_at_far(s, y, (0.0,))["tar_at_far_0e0"] == 0.0


def test_eer_cases():
    assert eer(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0])) == (0.0, 0.8)
    assert eer(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0]))[0] == 1.0
    # Hand case: genuine {0.9, 0.5}, impostor {0.6, 0.2}. ROC points (FPR, FNR):
    # (0, 0.5) at 0.9, (0.5, 0.5) at 0.6 -> FPR = FNR = 0.5 exactly there.
    e, t = eer(np.array([0.9, 0.5, 0.6, 0.2]), np.array([1, 1, 0, 0]))
    assert e == pytest.approx(0.5) and t == pytest.approx(0.6)
    for seed in range(3):
        s, y = _random(seed, n=500)
        e, t = eer(s, y)
        far, frr = np.mean(s[~y] >= t), np.mean(s[y] < t)
        # Interpolated EER lies within one sample step of the empirical rates at its threshold.
        assert abs(far - e) < 0.02 and abs(frr - e) < 0.02


def test_best_threshold_is_exact_and_vectorised():
    for seed, ties in [(5, False), (6, True)]:
        s, y = _random(seed, n=300, ties=ties)
        thr, acc = best_threshold(s, y)
        u = np.unique(s)
        cands = np.r_[u[0] - 1, (u[1:] + u[:-1]) / 2, u[-1] + 1]
        brute = max(np.mean((s >= c) == y) for c in cands)
        assert acc == pytest.approx(brute)
        assert np.mean((s >= thr) == y) == pytest.approx(acc)
        assert not np.isin(thr, s)  # a midpoint, never an observed score
    # All scores equal: the only choices are accept-all or reject-all.
    thr, acc = best_threshold(np.zeros(5), np.array([1, 1, 1, 0, 0]))
    assert acc == pytest.approx(0.6) and thr < 0
    assert best_threshold(np.array([0.9, 0.6, 0.4, 0.1]), np.array([1, 0, 1, 0])) == (0.25, 0.75)


def test_kfold_hand_case():
    # Fold 0 scores are all 0; fold 1 has one impostor scored like the genuine pairs.
    s = np.array([0, 0, 0, 0, 1, 1, 0, 1], float)
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)
    r = kfold_verification(s, y, folds=np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    # Fold 0: threshold 0.5 from fold 1 (3/4 there) rejects all of fold 0 -> 0.5.
    # Fold 1: fold 0 cannot separate; the lowest best threshold accepts all -> 0.5.
    assert r["accuracies"] == [0.5, 0.5]
    assert r["thresholds_per_fold"] == [0.5, -1.0]
    assert r["accuracy"] == 0.5 and r["accuracy_std"] == 0.0 and r["threshold"] == -0.25


def test_kfold_properties():
    s, y = _random(7, n=600)
    r = kfold_verification(s, y, folds=10)
    ids = np.arange(600) * 10 // 600
    assert np.bincount(ids).tolist() == [60] * 10  # contiguous equal blocks
    for f in range(10):
        thr, _ = best_threshold(s[ids != f], y[ids != f])  # chosen without the test fold
        assert r["thresholds_per_fold"][f] == thr
        assert r["accuracies"][f] == pytest.approx(np.mean((s[ids == f] >= thr) == y[ids == f]))
    assert r["accuracy"] == pytest.approx(np.mean(r["accuracies"]))
    assert r["accuracy_std"] == pytest.approx(np.std(r["accuracies"]))
    assert kfold_verification(s, y, fold_ids=ids) == r
    assert 0.6 < r["accuracy"] < 0.85
    with pytest.raises(ValueError, match="two distinct folds"):
        kfold_verification(s, y, folds=np.zeros(600, int))
    with pytest.raises(ValueError, match="not both"):
        kfold_verification(s, y, folds=np.zeros(600, int), fold_ids=ids)


def test_perfect_and_random_verification():
    r = np.random.default_rng(8)
    y = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    perfect = np.where(y, r.uniform(0.6, 1, 600), r.uniform(-0.2, 0.3, 600))
    k = kfold_verification(perfect, y)
    assert k["accuracy"] == 1.0 and all(0.3 < t < 0.6 for t in k["thresholds_per_fold"])
    assert roc_auc(perfect, y) == 1.0 and eer(perfect, y)[0] == 0.0
    assert set(tar_at_far(perfect, y).values()) == {1.0}
    noise = r.normal(size=600)
    assert abs(roc_auc(noise, y) - 0.5) < 0.08 and abs(eer(noise, y)[0] - 0.5) < 0.08
    assert kfold_verification(noise, y)["accuracy"] < 0.6


def test_rate_key():
    assert [rate_key(v) for v in (1e-1, 1e-2, 1e-3, 1e-4, 0.05, 2.5e-4, 1.0)] == [
        "1e-1", "1e-2", "1e-3", "1e-4", "5e-2", "2.5e-4", "1e0"]


# --------------------------------------------------------------------------- identification
def _brute_ranks(sim, pl, gl):
    ids = sorted(set(gl.tolist()))
    out = []
    for i, lab in enumerate(pl):
        per = {g: max(sim[i, j] for j in range(len(gl)) if gl[j] == g) for g in ids}
        out.append(sum(1 for g in ids if per[g] >= per[lab]))
    return np.array(out)


def test_cmc_hand_case_and_ties():
    sim = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.1], [0.7, 0.6, 0.65], [0.5, 0.5, 0.1]])
    gl = np.array([0, 1, 2])
    pl = np.array([0, 1, 1, 0])
    # ranks: 1, 1, 3 (0.6 below 0.7 and 0.65), 2 (tie with identity 1 counts against)
    assert probe_ranks(sim, pl, gl).tolist() == [1, 1, 3, 2]
    assert cmc(sim, pl, gl).tolist() == [0.5, 0.75, 1.0]
    assert rank_k(sim, pl, gl, 1) == 0.5 and rank_k(sim, pl, gl, 2) == 0.75
    # A constant embedding gets no credit from ties.
    assert cmc(np.ones((4, 3)), pl, gl).tolist() == [0.0, 0.0, 1.0]


def test_cmc_random_properties_and_brute_force():
    r = np.random.default_rng(9)
    gl = np.repeat(np.arange(8), 2)  # two gallery entries per identity
    pl = r.integers(0, 8, 200)
    sim = np.round(r.normal(size=(200, 16)), 1)  # ties included
    curve = cmc(sim, pl, gl)
    assert curve.shape == (8,) and np.all(np.diff(curve) >= 0) and curve[-1] == 1.0
    np.testing.assert_array_equal(probe_ranks(sim, pl, gl), _brute_ranks(sim, pl, gl))
    ids, s = identity_scores(sim, gl)
    np.testing.assert_array_equal(s, np.maximum(sim[:, 0::2], sim[:, 1::2]))
    assert cmc(sim, pl, gl, max_rank=3).tolist() == curve[:3].tolist()
    assert cmc(sim, pl, gl, max_rank=12)[-1] == 1.0


def test_cmc_perfect_random_and_string_labels():
    r = np.random.default_rng(10)
    ids = np.array(["ann", "bob", "cy", "dee", "eve"])
    pl = ids[r.integers(0, 5, 50)]
    onehot = (pl[:, None] == ids[None]).astype(float)
    assert cmc(onehot, pl, ids).tolist() == [1.0] * 5
    gal = r.normal(size=(10, 64))
    probe = r.normal(size=(3000, 64))
    labels = r.integers(0, 10, 3000)
    assert abs(rank_k(probe @ gal.T, labels, np.arange(10)) - 0.1) < 0.03
    with pytest.raises(ValueError, match="no mate"):
        cmc(onehot, np.r_[pl[:-1], ["zed"]], ids)
    with pytest.raises(ValueError, match="max_rank"):
        cmc(onehot, pl, ids, max_rank=0)
    with pytest.raises(ValueError, match="NaN"):
        cmc(np.full((1, 5), np.nan), pl[:1], ids)


def test_dir_at_far_hand_case():
    sim = np.array([
        [0.9, 0.1],  # mated 0, correct, 0.9
        [0.3, 0.6],  # mated 1, correct, 0.6
        [0.7, 0.2],  # mated 1, wrong at rank 1
        [0.5, 0.2],  # non-mated, top 0.5
        [0.1, 0.8],  # non-mated, top 0.8
    ])
    pl, gl = np.array([0, 1, 1, -1, -1]), np.array([0, 1])
    d = dir_at_far(sim, pl, gl, fars=(1.0, 0.5, 0.0))
    # far 1: no threshold -> rank-1 rate 2/3; far 0.5: one alarm allowed, accept > 0.5 -> 2/3;
    # far 0: accept > 0.8 -> only 0.9 -> 1/3
    assert d == pytest.approx({"dir_at_far_1e0": 2 / 3, "dir_at_far_5e-1": 2 / 3, "dir_at_far_0e0": 1 / 3})
    f = fnir_at_fpir(sim, pl, gl, fpirs=(0.0,))
    assert f == pytest.approx({"fnir_at_fpir_0e0": 2 / 3})
    with pytest.raises(ValueError, match="non-mated"):
        dir_at_far(sim[:3], pl[:3], gl)


def test_dir_at_far_brute_force_and_monotone():
    r = np.random.default_rng(11)
    gl = np.arange(20)
    pl = np.where(r.random(500) < 0.3, -1, r.integers(0, 20, 500))
    emb_g = r.normal(size=(20, 32))
    emb_p = r.normal(size=(500, 32)) + np.where(pl[:, None] >= 0, 1.5 * emb_g[np.maximum(pl, 0)], 0)
    sim = emb_p @ emb_g.T
    fars = (1.0, 0.3, 0.1, 0.03, 0.01, 0.0)
    got = dir_at_far(sim, pl, gl, fars)
    mated = pl >= 0
    top = sim.max(1)
    correct = mated & (sim.argmax(1) == np.maximum(pl, 0))
    for far in fars:
        best = 0.0
        for t in np.r_[-np.inf, np.unique(top)]:
            if np.sum(top[~mated] > t) <= far * (~mated).sum() + 1e-9:
                best = max(best, float(np.mean((correct & (top > t))[mated])))
        assert got[f"dir_at_far_{rate_key(far)}"] == pytest.approx(best)
    vals = [got[f"dir_at_far_{rate_key(f)}"] for f in fars]
    assert vals == sorted(vals, reverse=True)
    assert vals[0] == pytest.approx(rank_k(sim[mated], pl[mated], gl))
