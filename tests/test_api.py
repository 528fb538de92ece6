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
    plain = embed(faces, model=student, align=False, flip=False)  # flip-TTA is the default
    assert plain.shape == e.shape and not np.allclose(plain, e)


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
    bad = emb[:2].copy()
    bad[1, 3] = np.nan  # a face that was not found
    with pytest.raises(ValueError, match="NaN"):
        g.add(bad, ["a", "b"])
    assert len(g) == 50  # nothing was added
    with pytest.raises(ValueError, match="NaN"):
        g.search(bad)
    with pytest.raises(ValueError, match="16-D"):
        g.search(np.zeros((1, 8), np.float32))


def test_gallery_identify_answers_unknown_below_the_threshold():
    g = Gallery()
    g.add(np.eye(4, dtype=np.float32), ["a", "b", "c", "d"])
    probes = np.array([[0.0, 1.0, 0.0, 0.0], [0.6, 0.8, 0.0, 0.0]], np.float32)
    d = g.identify(probes, threshold=0.9)
    assert [x.label for x in d] == ["b", "unknown"] and [x.best for x in d] == ["b", "b"]
    assert d[1].score == pytest.approx(0.8) and d[1].threshold == 0.9 and not d[1].known
    assert [x.label for x in g.identify(probes)] == ["b", "b"]  # no threshold known: the best match
    with pytest.raises(ValueError, match="far must be one of"):
        g.identify(probes, far=0.05)


def test_public_names():
    for name in ("embed", "verify", "load_model", "list_models", "Gallery", "Identification"):
        assert callable(getattr(lrface, name))
    assert "lrstudent16" in lrface.list_models("lrstudent*")


def test_one_unreadable_file_costs_its_own_row_only(student, tmp_path):
    faces, _ = SyntheticFaces(num_identities=2, images_per_identity=1).arrays()
    from lrface.face.io import write_image

    good = [tmp_path / "a.png", tmp_path / "b.png"]
    for p, f in zip(good, faces):
        write_image(p, f)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    e, info = embed([str(good[0]), str(bad), str(good[1])], model=student, align=False, on_no_face="nan",
                    return_info=True)
    assert np.isnan(e[1]).all() and not np.isnan(e[[0, 2]]).any()
    assert info[1].found is False and info[1].error.startswith("unreadable") and info[0].error is None
    from lrface.errors import ImageReadError

    with pytest.raises(ImageReadError):  # the strict default still says which input failed
        embed([str(good[0]), str(bad)], model=student, align=False)


def test_embed_cli_creates_no_folder_it_was_not_asked_for(tmp_path, capsys):
    from lrface.cli.embed import main

    target = tmp_path / "nowhere" / "deeper" / "e.npz"
    (tmp_path / "x.png").write_bytes(b"")
    assert main([str(tmp_path / "x.png"), "--out", str(target)]) == 2
    assert not (tmp_path / "nowhere").exists()
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("res", [16, None])
def test_embed_gives_a_chip_model_the_same_input_as_the_benchmark_path(res):
    """embed() and lrface-bench feed a model with dlib's chip geometry identical pixels: the
    chip is cut once (a 150 px chip taken for an ArcFace frame and cut again cost the shipped
    LR model 30 points of LFW accuracy through embed())."""
    from lrface.eval.protocols.base import l2_normalize
    from lrface.models.inputs import inference_copy, lr_faces, run_batches

    torch.manual_seed(0)
    m = create_model("dlib_resnet_v1").eval()
    hr, _ = SyntheticFaces(num_identities=3, images_per_identity=1).arrays()
    got = embed(list(hr), model=m, res=res, align=False, flip=False, check_face=False)
    want = l2_normalize(run_batches(inference_copy(m), lr_faces(hr, res, "area")).astype(np.float64))
    np.testing.assert_allclose(got, want, atol=1e-5)
