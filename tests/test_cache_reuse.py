"""The teacher cache reuses the rows of earlier caches for faces they already hold
(a duplicated file included)."""
from __future__ import annotations

import numpy as np
import torch

from lrface.data.packed import RootSpec, pack_folders
from lrface.distill.cache import DIGESTS, TeacherCache
from lrface.face.io import write_image
from lrface.models import create_model


def _folder(root, ids, n, seed):
    rng = np.random.default_rng(seed)
    for i in ids:
        for k in range(n):
            write_image(root / i / f"{k}.png", rng.integers(0, 255, (112, 112, 3), dtype=np.uint8))


def test_adding_a_root_computes_only_its_faces(tmp_path, monkeypatch):
    _folder(tmp_path / "a", ["p0", "p1"], 3, seed=0)
    _folder(tmp_path / "b", ["q0"], 2, seed=1)
    (tmp_path / "a" / "p1" / "copy.png").write_bytes((tmp_path / "a" / "p0" / "0.png").read_bytes())
    cache_dir = tmp_path / "cache"
    torch.manual_seed(0)
    teacher = create_model("assistant").eval()
    taps = {"stage2": 2}
    pack_a = pack_folders([RootSpec(str(tmp_path / "a"))], cache_dir, progress=False)
    first = TeacherCache.build(teacher, "sha-test", pack_a, cache_dir, taps=taps, batch_size=4, progress=False)
    assert first.info["reused_faces"] == 0
    # a cache made before digests were stored: they are recomputed from its pack, then kept
    (cache_dir / "teacher").joinpath(next(p.name for p in (cache_dir / "teacher").iterdir()), DIGESTS).unlink()

    both = pack_folders([RootSpec(str(tmp_path / "b")), RootSpec(str(tmp_path / "a"))], cache_dir, progress=False)
    seen = []
    forward = type(teacher).forward_features

    def counting(self, x):
        seen.append(len(x))
        return forward(self, x)

    monkeypatch.setattr(type(teacher), "forward_features", counting)
    second = TeacherCache.build(teacher, "sha-test", both, cache_dir, taps=taps, batch_size=4, progress=False)
    assert second.info["reused_faces"] == 7 and sum(seen) == 2 * 2  # b's 2 faces, both views
    assert len(list((cache_dir / "teacher").glob(f"*/{DIGESTS}"))) == 2
    # identical to a cache computed from scratch
    fresh = TeacherCache.build(teacher, "sha-test", both, tmp_path / "other", taps=taps, batch_size=4, progress=False)
    idx = np.arange(len(both))
    for flip in (np.zeros_like(idx), np.ones_like(idx)):
        torch.testing.assert_close(second.embeddings(idx, flip), fresh.embeddings(idx, flip), atol=1e-5, rtol=0)
        torch.testing.assert_close(second.tap("stage2", idx, flip), fresh.tap("stage2", idx, flip), atol=1e-3, rtol=0)
