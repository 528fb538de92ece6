"""The model choice by face size, calibrated thresholds and the quality score.

A fake zoo of randomly initialised models (8, 16 and 32 px students and an HR model) in a
``$LRFACE_WEIGHTS`` folder stands in for the shipped models, so these tests check the
mechanism whatever is shipped; ``tests/test_shipped.py`` checks the shipped models themselves.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lrface.api import FaceInfo, embed, pair_threshold, verify
from lrface.data.synthetic import SyntheticFaces
from lrface.eval.calibrate import far_thresholds, genuine_impostor, impostor_scores
from lrface.face.align import ARCFACE_TEMPLATE_112
from lrface.models import create_model
from lrface.models.weights import available_weights, sha256_file, write_manifest_entry
from lrface.models.zoo import HR_MIN_FACE, choose_res, face_size, pick, shipped_by_res

FAKE = {"zz-s8": ("lrstudent8", 8), "zz-s16": ("lrstudent16", 16), "zz-s32": ("lrstudent32", 32),
        "zz-hr": ("assistant", 112)}


@pytest.fixture()
def fake_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for k, (name, (arch, res)) in enumerate(FAKE.items()):
        torch.manual_seed(k)
        m = create_model(arch).eval()
        path = tmp_path / f"{name}.pt"
        torch.save(m.state_dict(), path)
        entry = {"file": path.name, "arch": arch, **m.cfg.as_dict(), "sha256": sha256_file(path),
                 "default_for_res": [res], "role": "assistant" if res == 112 else "student",
                 "kind": "hr" if res == 112 else "lr",
                 "thresholds": {"1e-2": 0.2 + k / 100, "1e-3": 0.3 + k / 100}, "quality_ref": 2.0}
        if res < 112:
            entry["degradation"] = {"preset": "area", "res": res}
            entry["thresholds_hr"] = {"1e-2": 0.1 + k / 100, "1e-3": 0.15 + k / 100}
        write_manifest_entry(tmp_path, name, entry)
    monkeypatch.setenv("LRFACE_WEIGHTS", str(tmp_path))
    return tmp_path


def test_face_size_reads_the_template_scale():
    assert face_size(ARCFACE_TEMPLATE_112) == pytest.approx(112.0)
    shifted = ARCFACE_TEMPLATE_112 * (20 / 112) + np.array([300.0, 40.0])
    assert face_size(shifted) == pytest.approx(20.0)


@pytest.mark.parametrize("px,want", [(5, 8), (8, 8), (11.5, 8), (11.9, 12), (12, 12), (15.8, 16), (19, 16), (31, 24),
                                     (28, 24), (31.9, 32), (HR_MIN_FACE, 112), (300, 112)])
def test_choose_res_takes_the_largest_resolution_not_above_the_face(px, want):
    assert choose_res(px, [8, 12, 16, 20, 24, 32]) == want


def test_choose_res_without_hr_model_stays_on_students():
    assert choose_res(300, [8, 16], have_hr=False) == 16
    with pytest.raises(ValueError, match="no student"):
        choose_res(10, [], have_hr=False)


def test_pick_uses_the_manifests(fake_zoo):
    table = shipped_by_res()
    assert {r: e.name for r, e in table.items() if e.name.startswith("zz-")} == {8: "zz-s8", 16: "zz-s16",
                                                                              32: "zz-s32", 112: "zz-hr"}
    assert pick(17.0, {r: table[r] for r in (8, 16, 32, 112)}).model == "zz-s16"


def test_embed_chooses_the_model_by_crop_size(fake_zoo):
    from lrface.face.degrade import degrade

    hr, _ = SyntheticFaces(num_identities=2, images_per_identity=1).arrays()
    table = {r: e for r, e in shipped_by_res().items() if e.name.startswith("zz-")}
    crops = [degrade(hr[0], 6, "area"), degrade(hr[0], 16, "area"), degrade(hr[1], 20, "area"),
             degrade(hr[1], 30, "area"), degrade(hr[1], 32, "area"), hr[0]]
    import lrface.models.zoo as zoo

    orig = zoo.shipped_by_res
    zoo.shipped_by_res = lambda *a, **k: table  # only the fake zoo, whatever the package ships
    try:
        e, info = embed(crops, align=False, return_info=True)
    finally:
        zoo.shipped_by_res = orig
    # HR_MIN_FACE (32 px) and up: the HR model
    assert [i.model for i in info] == ["zz-s8", "zz-s16", "zz-s16", "zz-s16", "zz-hr", "zz-hr"]
    assert [i.face_px for i in info] == [6, 16, 20, 30, 32, 112]
    assert [i.res for i in info] == [None, None, 16, 16, None, None]  # degraded only when larger than the model
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert all(isinstance(i, FaceInfo) and i.found and i.quality > 0 for i in info)
    # The same rows as asking for each model explicitly: the choice changes nothing else
    # (up to float rounding: the batch holds other faces here).
    e16 = embed(crops[2], model=str(fake_zoo / "zz-s16.pt"), align=False)
    np.testing.assert_allclose(e16[0], e[2], atol=1e-6)


def test_quality_is_the_raw_norm_over_the_reference(fake_zoo):
    hr, _ = SyntheticFaces(num_identities=1, images_per_identity=1).arrays()
    path = fake_zoo / "zz-s16.pt"
    e, info = embed(hr, model=str(path), res=16, align=False, return_info=True, flip=False)
    from lrface.models.inputs import inference_copy, lr_faces, run_batches
    from lrface.models.weights import load_model

    m = inference_copy(load_model(path))
    raw = run_batches(m, lr_faces(hr, 16, "area"))
    assert info[0].quality == pytest.approx(float(np.linalg.norm(raw[0])) / 2.0, rel=1e-5)  # quality_ref 2.0


def test_pair_thresholds_follow_the_pair_of_models(fake_zoo):
    w = available_weights()
    s8, s16, hr = w["zz-s8"], w["zz-s16"], w["zz-hr"]
    assert pair_threshold(s16, s16, 1e-3) == pytest.approx(0.31)
    assert pair_threshold(s16, s16, 1e-2) == pytest.approx(0.21)
    assert pair_threshold(hr, s16, 1e-3) == pytest.approx(0.16)  # the student's thresholds_hr
    assert pair_threshold(s16, hr, 1e-3) == pytest.approx(0.16)
    assert pair_threshold(hr, hr, 1e-3) == pytest.approx(0.33)
    assert pair_threshold(s8, s16, 1e-3) == pytest.approx(0.30)  # the lower resolution's
    assert pair_threshold(None, s16) is None


def test_verify_reports_models_threshold_and_far(fake_zoo):
    hr, _ = SyntheticFaces(num_identities=2, images_per_identity=1).arrays()
    r = verify(hr[0], hr[1], model=str(fake_zoo / "zz-s16.pt"), res=16, align=False, far=1e-2)
    assert r.threshold == pytest.approx(0.21) and r.far == 1e-2 and r.models == ("zz-s16", "zz-s16")
    assert r.same == (r.score >= r.threshold) and len(r.quality) == 2
    with pytest.raises(ValueError, match="far must be one of"):
        verify(hr[0], hr[1], model=str(fake_zoo / "zz-s16.pt"), align=False, far=0.05)


def test_far_thresholds_accept_at_most_far_of_impostors():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(300, 8))
    labels = np.repeat(np.arange(100), 3)
    t = far_thresholds(e, e, labels)
    imp = impostor_scores(e, e, labels)
    assert len(imp) == 300 * 299 // 2 - 100 * 3
    for key, far in (("1e-2", 1e-2), ("1e-3", 1e-3)):
        assert (imp >= t[key]).mean() <= far
        assert (imp >= np.nextafter(t[key], -np.inf) - 1e-3).mean() > far / 2  # not needlessly strict
    gen, imp2 = genuine_impostor(e, e + 0.01, labels)  # two embeddings: ordered pairs, both ways
    assert len(imp2) == 2 * len(imp) and len(gen) == 100 * 6
    with pytest.raises(ValueError, match="cannot calibrate FAR"):
        far_thresholds(e[:10], e[:10], np.arange(10), fars=(1e-3,))


def test_small_faces_are_found_by_upsampling(mtcnn_weights):
    import cv2
    import matplotlib

    from lrface.api import _find_face

    photo = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))[:, :, ::-1]
    face, px, up, _ = _find_face(np.ascontiguousarray(photo))
    assert face is not None and up == 1.0 and px > 100
    for target in (10, 14):
        s = target / px
        small = cv2.resize(photo, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        canvas = np.full((240, 320, 3), 90, np.uint8)
        canvas[100 : 100 + small.shape[0], 150 : 150 + small.shape[1]] = small
        face2, px2, up2, _ = _find_face(canvas)
        # found on the enlarged photo (10 px: missed at 1x; 14 px: landmarks refined at 2x)
        assert face2 is not None and up2 > 1 and px2 == pytest.approx(target, abs=2)


def test_align_can_be_given_per_input(fake_zoo):
    hr, _ = SyntheticFaces(num_identities=2, images_per_identity=1).arrays()
    path = str(fake_zoo / "zz-s16.pt")
    both = embed(list(hr), model=path, align=False)
    np.testing.assert_array_equal(embed(list(hr), model=path, align=[False, False]), both)
    with pytest.raises(ValueError, match="2 flags for 3 inputs"):
        embed([hr[0], hr[1], hr[0]], model=path, align=[False, False])


def test_tiny_images_are_taken_as_tight_crops(fake_zoo, mtcnn_weights):
    from lrface.face.degrade import degrade

    hr, _ = SyntheticFaces(num_identities=1, images_per_identity=1).arrays()
    crop = degrade(hr[0], 16, "area")
    path = str(fake_zoo / "zz-s16.pt")
    # align=True: no detection on a 16 px image (a rendered face: the face-ness check, made for
    # camera crops of real faces, is not what this test is about)
    e, info = embed(crop, model=path, return_info=True, check_face=False)
    assert info[0].found and info[0].upsampled == 0 and info[0].face_px == 16
    np.testing.assert_array_equal(e, embed(crop, model=path, align=False, check_face=False))
    blank = np.full((48, 48, 3), 128, np.uint8)  # <= 64 px, no face found: a crop, but not a face
    _, info2 = embed(blank, model=path, return_info=True, on_no_face="nan")
    assert not info2[0].found and info2[0].error.startswith("not a face")
    _, info3 = embed(blank, model=path, return_info=True, check_face=False)  # trusted when asked
    assert info3[0].found and info3[0].upsampled == 0
    with pytest.raises(Exception, match="no face found"):
        embed(np.full((160, 160, 3), 128, np.uint8), model=path)  # a photo without a face


# --------------------------------------------------------------------------- one LR model for many sizes


@pytest.fixture()
def ranged_zoo(fake_zoo: Path) -> Path:
    """The fake zoo plus an 'accurate' LR model for 8-32 px and the students as fast models."""
    m = create_model("assistant").eval()
    path = fake_zoo / "zz-lr.pt"
    torch.save(m.state_dict(), path)
    write_manifest_entry(fake_zoo, "zz-lr", {
        "file": path.name, "arch": "assistant", **m.cfg.as_dict(), "sha256": sha256_file(path), "kind": "lr",
        "default_for_res": [8, 16, 32], "degradation": {"preset": "area", "sizes": [8, 12, 16, 20, 24, 32]},
        "thresholds_by_res": {8: {"1e-3": 0.5}, 16: {"1e-3": 0.6}, 32: {"1e-3": 0.7}},
        "thresholds_hr_by_res": {8: {"1e-3": 0.4}, 16: {"1e-3": 0.45}},
        "quality_ref_by_res": {8: 2.0, 16: 4.0}})
    for name in ("zz-s8", "zz-s16", "zz-s32"):  # the students become the fast choice
        from lrface.models.weights import read_manifest

        meta = dict(read_manifest(fake_zoo)[name].meta)
        meta["fast_for_res"] = meta.pop("default_for_res")
        write_manifest_entry(fake_zoo, name, meta)
    return fake_zoo


def _only_fake(prefer: str = "accuracy"):
    return {r: e for r, e in shipped_by_res(prefer).items() if e.name.startswith("zz-")}


def test_accurate_lr_model_takes_each_face_at_its_own_size_and_speed_picks_students(ranged_zoo):
    from lrface.face.degrade import degrade
    from lrface.models.zoo import lr_size, size_range

    acc, fast = _only_fake(), _only_fake("speed")
    assert {acc[r].name for r in (8, 16, 32)} == {"zz-lr"} and acc[112].name == "zz-hr"
    assert [fast[r].name for r in (8, 16, 32, 112)] == ["zz-s8", "zz-s16", "zz-s32", "zz-hr"]
    assert size_range(acc[16]) == (8, 32) and size_range(fast[16]) is None
    assert [lr_size(acc[16], px, 16) for px in (5, 19.4, 27, 39)] == [8, 19, 27, 32]
    assert lr_size(fast[16], 19.4, 16) == 16
    hr, _ = SyntheticFaces(num_identities=1, images_per_identity=1).arrays()
    crops = [degrade(hr[0], 19, "area"), degrade(hr[0], 27, "area")]
    import lrface.models.zoo as zoo

    orig = zoo.shipped_by_res
    zoo.shipped_by_res = lambda prefer="accuracy": _only_fake(prefer)
    try:
        _, info = embed(crops, align=False, return_info=True)
        _, finfo = embed(crops, align=False, return_info=True, prefer="speed")
        with pytest.raises(ValueError, match="prefer"):
            embed(crops, align=False, prefer="fastest")
    finally:
        zoo.shipped_by_res = orig
    assert [i.model for i in info] == ["zz-lr", "zz-lr"] and [i.face_px for i in info] == [19, 27]
    assert [i.model for i in finfo] == ["zz-s16", "zz-s16"] and [i.res for i in finfo] == [16, 16]
    # quality is scaled by the reference of the face's size (largest calibrated size not above it)
    assert info[0].quality > 0


def test_pair_thresholds_per_face_size(ranged_zoo):
    from lrface.decisions import pair_threshold

    w = available_weights()
    lr, hr, s16 = w["zz-lr"], w["zz-hr"], w["zz-s16"]
    assert pair_threshold(lr, lr, 1e-3, 16, 24) == pytest.approx(0.6)  # the smaller face: 16
    assert pair_threshold(lr, lr, 1e-3, 12, 32) == pytest.approx(0.5)  # 12 -> calibrated 8
    assert pair_threshold(lr, lr, 1e-3, 6, 6) == pytest.approx(0.5)  # below every size: the smallest
    assert pair_threshold(hr, lr, 1e-3, None, 20) == pytest.approx(0.45)
    assert pair_threshold(lr, hr, 1e-3, 8, None) == pytest.approx(0.4)
    assert pair_threshold(lr, lr, 1e-2, 16, 16) is None  # not calibrated at that FAR
    assert pair_threshold(s16, lr, 1e-3, 16, 24) == pytest.approx(0.31)  # the smaller face's model


def test_a_score_reads_as_the_false_accept_rate_of_its_pair(ranged_zoo):
    from lrface.decisions import pair_far
    from lrface.models.weights import read_manifest

    meta = dict(read_manifest(ranged_zoo)["zz-lr"].meta)
    meta["thresholds_by_res"] = {16: {"1e-2": 0.5, "1e-3": 0.6, "1e-4": 0.7}}
    write_manifest_entry(ranged_zoo, "zz-lr", meta)
    lr = available_weights()["zz-lr"]
    assert pair_far(lr, lr, 0.6, 16, 16) == pytest.approx(1e-3)
    assert pair_far(lr, lr, 0.65, 16, 16) == pytest.approx(10 ** -3.5)  # log-linear between points
    assert pair_far(lr, lr, 0.1, 16, 16) == pytest.approx(1e-2)  # beyond the grid: its end values
    assert pair_far(lr, lr, 0.99, 16, 16) == pytest.approx(1e-4)
    assert pair_far(None, lr, 0.5) is None
    hr, _ = SyntheticFaces(num_identities=2, images_per_identity=1).arrays()
    r = verify(hr[0], hr[1], model=str(ranged_zoo / "zz-s16.pt"), res=16, align=False)
    assert r.score_far is not None and 0 < r.score_far <= 1
