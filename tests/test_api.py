"""embed / verify / Gallery."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import lrface
from lrface.api import Gallery, embed, verify
from lrface.data.synthetic import SyntheticFaces
from lrface.errors import ImageReadError, NoFaceError
from lrface.models import create_model


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return create_model("lrstudent16").eval()


def test_embed_aligned_crops_shapes_and_norm(student):
    faces, _ = SyntheticFaces(num_identities=3, images_per_identity=2).arrays()
    e = embed(faces, model=student, align=False)
    assert e.shape == (6, student.embedding_size) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    one = embed(faces[0], model=student, align=False)
    assert one.shape == (1, student.embedding_size)
    np.testing.assert_allclose(one[0], e[0], atol=1e-5)
    # An LR crop at the student's native size gives the same result as its HR source.
    from lrface.face.degrade import degrade
    lr = degrade(faces[:1], 16, "area")
    np.testing.assert_allclose(embed(lr, model=student, align=False), e[:1], atol=1e-5)
    flipped = embed(faces, model=student, align=False, flip=True)
    assert flipped.shape == e.shape and not np.allclose(flipped, e)


def test_no_face_is_a_clear_documented_result(student, mtcnn_weights):
    blank = np.full((160, 160, 3), 200, np.uint8)
    with pytest.raises(NoFaceError, match="no face found in image #0"):
        embed(blank, model=student)
    out = embed([blank], model=student, on_no_face="nan")
    assert out.shape == (1, student.embedding_size) and np.isnan(out).all()
    with pytest.raises(ValueError, match="on_no_face"):
        embed(blank, model=student, on_no_face="skip")


def test_bad_image_raises_read_error(student, tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"nope")
    with pytest.raises(ImageReadError):
        embed(str(bad), model=student)


def test_real_photo_gives_one_unit_vector(student, mtcnn_weights):
    import matplotlib

    photo = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    e = embed(str(photo), model=student)
    assert e.shape == (1, student.embedding_size)
    assert abs(float(np.linalg.norm(e[0])) - 1.0) < 1e-5


def test_verify_uses_threshold(student):
    faces, _ = SyntheticFaces(num_identities=2, images_per_identity=1).arrays()
    r = verify(faces[0], faces[0], model=student, align=False, threshold=0.5)
    assert r.score == pytest.approx(1.0, abs=1e-5) and r.same is True and float(r) == r.score
    r2 = verify(faces[0], faces[1], model=student, align=False)
    assert r2.same is None and r2.threshold is None  # no calibrated threshold on a bare model


def test_gallery_search_exact(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(50, 16)).astype(np.float32)
    g = Gallery()
    g.add(emb, [f"id{i}" for i in range(50)])
    res = g.search(emb[[7, 3]] + 0.01 * rng.normal(size=(2, 16)).astype(np.float32), k=3)
    assert [r[0][0] for r in res] == ["id7", "id3"] and len(res[0]) == 3
    assert res[0][0][1] >= res[0][1][1] >= res[0][2][1]
    g.save(tmp_path / "g.npz")
    g2 = Gallery.load(tmp_path / "g.npz")
    assert g2.search(emb[5], k=1)[0][0][0] == "id5"
    with pytest.raises(ValueError, match="empty"):
        Gallery().search(emb[0])
    with pytest.raises(ValueError, match="embedding size"):
        g.add(np.zeros((1, 8), np.float32), ["x"])


def test_public_names():
    for name in ("embed", "verify", "load_model", "list_models", "Gallery"):
        assert callable(getattr(lrface, name))
    assert "lrstudent16" in lrface.list_models("lrstudent*")
