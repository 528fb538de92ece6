"""HR-side augmentation of the distillation trainer: seeded per sample, off by default."""
from __future__ import annotations

import numpy as np
import pytest

from lrface.config import from_dict
from lrface.data.synthetic import SyntheticFaces
from lrface.distill.config import AugmentCfg, DistillConfig
from lrface.distill.trainer import augment


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return SyntheticFaces(num_identities=3, images_per_identity=2).arrays()[0]


def test_default_is_no_augmentation(faces):
    cfg = DistillConfig()
    assert not cfg.augment.active()
    assert augment(cfg, faces, np.arange(len(faces)), 0) is faces


def test_draws_depend_on_seed_epoch_and_index_only(faces):
    cfg = DistillConfig(augment=AugmentCfg(shift=0.04, scale=0.05, rotate=5, contrast=0.2))
    idx = np.arange(10, 10 + len(faces))
    a = augment(cfg, faces, idx, epoch=3)
    assert a.shape == faces.shape and a.dtype == np.uint8 and not np.array_equal(a, faces)
    np.testing.assert_array_equal(a, augment(cfg, faces, idx, epoch=3))  # reproducible
    # a sample's draw does not depend on the batch it is in
    np.testing.assert_array_equal(a[2:3], augment(cfg, faces[2:3], idx[2:3], epoch=3))
    assert not np.array_equal(a, augment(cfg, faces, idx, epoch=4))


def test_gray_and_config_parsing(faces):
    cfg = from_dict(DistillConfig, {"augment": {"gray": 1.0}}, where="t")
    g = augment(cfg, faces, np.arange(len(faces)), 0)
    assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
    with pytest.raises(Exception, match="shfit"):
        from_dict(DistillConfig, {"augment": {"shfit": 0.1}}, where="t")
