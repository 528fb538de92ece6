"""The face-ness check: small crops that are not faces get no embedding."""
from __future__ import annotations

import numpy as np
import pytest

from lrface.errors import NoFaceError
from lrface.face.faceness import FACENESS_THRESHOLD, FacenessNet, faceness, prepare_crops


def test_crops_of_any_size_become_the_classifiers_input():
    x = prepare_crops([np.zeros((12, 12, 3), np.uint8), np.full((40, 30, 3), 255, np.uint8), np.zeros((16, 16), np.uint8)])
    assert x.shape == (3, 3, 24, 24) and float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert FacenessNet()(x).shape == (3,)


def test_gray_noise_and_patterns_are_not_faces_and_lfw_faces_are(lfw_dir):
    from lrface.data.synthetic.nonfaces import synthetic_nonfaces
    from lrface.face.degrade import degrade
    from lrface.face.io import read_image

    rng = np.random.default_rng(3)
    nonfaces = [np.full((16, 16, 3), 128, np.uint8), rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)]
    nonfaces += synthetic_nonfaces(60, rng)
    files = sorted((lfw_dir / "images").glob("*/*.jpg"))[::500][:24]
    faces = [degrade(read_image(f), int(s), "area") for f, s in zip(files, rng.integers(12, 33, len(files)))]
    p_non, p_face = faceness(nonfaces), faceness(faces)
    assert (p_non < FACENESS_THRESHOLD).mean() >= 0.95 and (p_non[:2] < FACENESS_THRESHOLD).all()
    assert (p_face >= FACENESS_THRESHOLD).mean() >= 0.95


def test_embed_rejects_small_nonfaces_as_no_face(lfw_dir):
    import lrface
    from lrface.face.degrade import degrade
    from lrface.face.io import read_image

    gray = np.full((16, 16, 3), 128, np.uint8)
    face = degrade(read_image(sorted((lfw_dir / "images").glob("*/*.jpg"))[0]), 16, "area")
    e, info = lrface.embed([gray, face], align=False, on_no_face="nan", return_info=True, prefer="speed")
    assert np.isnan(e[0]).all() and info[0].error.startswith("not a face") and info[1].found
    with pytest.raises(NoFaceError, match="not a face"):
        lrface.embed(gray, align=False)
    e, info = lrface.embed(gray, align=False, check_face=False, return_info=True, prefer="speed")
    assert info[0].found and not np.isnan(e).any()  # trusted when asked to
    # two identical gray patches are no longer "the same person"
    with pytest.raises(NoFaceError):
        lrface.verify(gray, gray, align=False)
