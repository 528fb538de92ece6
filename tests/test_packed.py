"""Training data: packed identity folders and the identity-overlap guard."""
from __future__ import annotations

import numpy as np
import pytest

from lrface.data.packed import PackedFaces, RootSpec, pack_folders
from lrface.distill.overlap import centroids, find_overlap, normalise_name
from lrface.errors import DatasetLayoutError
from lrface.face.io import write_image


def _folder(root, ids, n, size, seed=0):
    rng = np.random.default_rng(seed)
    for i in ids:
        for k in range(n):
            write_image(root / i / f"{k}.png", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


def test_pack_mixes_roots_with_separate_labels_and_any_size(tmp_path):
    _folder(tmp_path / "a", ["alice", "bob"], 2, 112)
    _folder(tmp_path / "b", ["alice"], 3, 64, seed=1)  # same folder name, other dataset: another class
    _folder(tmp_path / "u", ["x"], 2, 112, seed=2)
    (tmp_path / "a" / "bob" / "broken.jpg").write_bytes(b"not a jpeg")
    roots = [RootSpec(str(tmp_path / "a")), RootSpec(str(tmp_path / "b")), RootSpec(str(tmp_path / "u"), labelled=False)]
    ds = pack_folders(roots, tmp_path / "cache", progress=False)
    assert len(ds) == 9 and ds.images.shape == (9, 112, 112, 3)
    assert ds.identities == ["a/alice", "a/bob", "b/alice"] and ds.num_classes == 3
    assert list(ds.labels) == [0, 0, 1, 1, 2, 2, 2, -1, -1]
    img, label, index = ds[4]
    assert img.shape == (112, 112, 3) and label == 2 and index == 4
    again = pack_folders(roots, tmp_path / "cache", progress=False)  # reused, same content
    assert again.content_key == ds.content_key and np.array_equal(np.asarray(again.images), np.asarray(ds.images))
    import json

    meta = json.loads(next((tmp_path / "cache" / "packs").glob("*.json")).read_text())
    assert list(meta["skipped"]) == ["a/bob/broken.jpg"]  # counted and named, not silently dropped


def test_pack_refuses_non_square_and_bad_layout(tmp_path):
    write_image(tmp_path / "r" / "p" / "0.png", np.zeros((112, 96, 3), np.uint8))
    with pytest.raises(DatasetLayoutError, match="could be read"):
        pack_folders([RootSpec(str(tmp_path / "r"))], tmp_path / "c", progress=False)
    with pytest.raises(DatasetLayoutError):
        pack_folders([RootSpec(str(tmp_path / "missing"))], tmp_path / "c", progress=False)


def test_split_identities_is_disjoint_and_seeded():
    labels = np.repeat(np.arange(20), 3)
    ds = PackedFaces.from_arrays(np.zeros((60, 112, 112, 3), np.uint8), labels, [str(i) for i in range(20)])
    tr, va = ds.split_identities(0.25, seed=3)
    assert len(tr) + len(va) == 60 and not set(tr.identity_of()) & set(va.identity_of())
    assert len(set(va.identity_of())) == 5
    tr2, va2 = ds.split_identities(0.25, seed=3)
    assert np.array_equal(va.indices, va2.indices)


def test_overlap_guard_by_name_and_by_centroid():
    assert normalise_name("pins/Tom Cruise") == normalise_name("lfw/Tom_Cruise") == "tom_cruise"
    rng = np.random.default_rng(0)
    eval_c = rng.normal(size=(4, 16))
    eval_c /= np.linalg.norm(eval_c, axis=1, keepdims=True)
    same = eval_c[2] + 0.1 * rng.normal(size=16)  # an anonymous identity that is eval person 2
    other = rng.normal(size=(2, 16))
    other -= other @ eval_c.T @ np.linalg.pinv(eval_c.T)  # orthogonal to every eval person: a stranger
    train = np.vstack([same, other, eval_c[0] * -1])
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    names = ["celeba/101", "celeba/102", "celeba/103", "pins/Eval_Zero"]
    ex, rep = find_overlap(names, train, ["lfw/A", "lfw/B", "lfw/C", "lfw/Eval_Zero"], eval_c, threshold=0.6)
    assert list(ex) == [True, False, False, True]
    assert rep.by_name == ["pins/Eval_Zero"] and rep.by_centroid[0]["identity"] == "celeba/101"
    assert rep.by_centroid[0]["match"] == "lfw/C" and rep.by_centroid[0]["cosine"] >= 0.6
    assert rep.max_cosine_kept < 0.6 and "excluded 1 identities by name" in rep.summary()


def test_centroids_use_flip_sum_and_skip_unlabelled():
    emb = np.zeros((3, 2, 2))
    emb[0] = [[1, 0], [1, 0]]
    emb[1] = [[0, 1], [0, 1]]
    emb[2] = [[5, 5], [5, 5]]
    ids, c = centroids(emb, np.array([0, 0, -1]))
    assert list(ids) == [0] and np.allclose(c[0], [2 ** -0.5, 2 ** -0.5])


def test_a_train_only_root_leaves_the_validation_split_of_the_others_unchanged(tmp_path):
    _folder(tmp_path / "a", [f"p{i}" for i in range(12)], 2, 32)
    _folder(tmp_path / "extra", ["q0", "q1", "q2"], 3, 32, seed=1)
    one = pack_folders([RootSpec(str(tmp_path / "a"))], tmp_path / "cache", progress=False)
    both = pack_folders([RootSpec(str(tmp_path / "a")), RootSpec(str(tmp_path / "extra"))], tmp_path / "cache",
                        progress=False)
    _, va1 = one.split_identities(0.25, seed=5)
    _, va2 = both.split_identities(0.25, seed=5, train_only=["extra"])
    assert [one.identities[i] for i in sorted(set(va1.identity_of()))] == \
        [both.identities[i] for i in sorted(set(va2.identity_of()))]
    assert not any(both.identities[i].startswith("extra/") for i in va2.identity_of())
    _, va3 = both.split_identities(0.25, seed=5)  # without train_only the extra root takes part
    assert len(set(va3.identity_of())) == 4


def test_sample_identities_keeps_whole_identities():
    labels = np.repeat(np.arange(20), 3)
    ds = PackedFaces.from_arrays(np.zeros((60, 112, 112, 3), np.uint8), labels, [str(i) for i in range(20)])
    half = ds.sample_identities(0.5, seed=1)
    ids, counts = np.unique(half.identity_of(), return_counts=True)
    assert len(ids) == 10 and set(counts) == {3}
    assert np.array_equal(half.indices, ds.sample_identities(0.5, seed=1).indices)
    assert ds.sample_identities(1.0) is ds
    with pytest.raises(ValueError, match="fraction"):
        ds.sample_identities(0.0)


def test_a_repack_after_new_file_times_replaces_the_old_pack(tmp_path):
    import os

    _folder(tmp_path / "a", ["p0", "p1"], 2, 32)
    cache = tmp_path / "cache"
    first = pack_folders([RootSpec(str(tmp_path / "a"))], cache, progress=False)
    for f in (tmp_path / "a").rglob("*.png"):  # same bytes, new times (a copy, a re-mount)
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    second = pack_folders([RootSpec(str(tmp_path / "a"))], cache, progress=False)
    assert second.key != first.key and second.content_key == first.content_key
    assert sorted(p.stem for p in (cache / "packs").glob("*.json")) == [second.key]
    assert len(list((cache / "packs").glob("*.u8"))) == 1


def test_centroids_can_be_mean_centred():
    from lrface.distill.overlap import centroids

    rng = np.random.default_rng(0)
    cone = np.array([1.0, 0, 0, 0])
    emb = cone * 5 + rng.normal(0, 0.3, (40, 4))  # every face close to one direction
    labels = np.repeat(np.arange(4), 10)
    _, raw = centroids(emb, labels)
    _, cen = centroids(emb, labels, center=(emb / np.linalg.norm(emb, axis=1, keepdims=True)).mean(0))
    off = ~np.eye(4, dtype=bool)
    assert (raw @ raw.T)[off].min() > 0.95  # in the cone, every identity looks alike
    assert (cen @ cen.T)[off].max() < 0.9  # centred, they separate
