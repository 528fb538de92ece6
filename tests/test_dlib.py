"""dlib's face ResNet: the numpy reader, the PyTorch port, and equality with dlib.

The port must reproduce dlib's own descriptors: max |diff| <= 1e-4 on real aligned chips.
With ``dlib-bin`` installed (a test extra) the reference is dlib itself; otherwise the
golden descriptors in ``tests/golden/dlib_golden.npz`` (written by dlib with
``tests/golden/make_dlib_golden.py``). Tests that need dlib's original model file
(:mod:`lrface.models.dlib_weights` says where it is looked for) skip with a message when it is absent.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import sys

from lrface.errors import WeightsError
from lrface.models.base import preprocess
from lrface.models.dlib_io import read_dlib_dnn
from lrface.models.dlib_resnet import DlibResNet, add_padded, from_dlib
from lrface.models.dlib_weights import RESNET_FILE, SHA256, download_dlib_models, find_dlib_file

GOLDEN = Path(__file__).parent / "golden" / "dlib_golden.npz"
sys.path.insert(0, str(Path(__file__).parent))  # the dlib_writer test helper


def _dat() -> Path:
    try:
        return find_dlib_file(RESNET_FILE)
    except WeightsError as e:
        pytest.skip(f"dlib's model file is not installed ({e})")


@pytest.fixture(scope="module")
def port() -> DlibResNet:
    state, _ = from_dlib(str(_dat()))
    m = DlibResNet()
    m.load_state_dict(state)
    return m.eval()


def _embed(m: torch.nn.Module, chips: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return m(preprocess(chips, m.cfg)).numpy()


def test_reader_consumes_the_whole_file_and_finds_the_architecture():
    net = read_dlib_dnn(_dat())
    kinds = [r.kind for r in net.layers]
    assert len(kinds) == 108
    assert {k: kinds.count(k) for k in set(kinds)} == {"con": 29, "affine": 29, "relu": 29, "add_prev": 14,
                                                       "avg_pool": 5, "max_pool": 1, "fc": 1}
    assert net.input["size"] == (150, 150)
    assert net.loss["type"] == "loss_metric_2" and abs(net.loss["distance_threshold"] - 0.6) < 1e-6
    assert net.layers[-1].arrays["weight"].shape == (256, 128)  # stored [in, out]
    assert sum(a.size for r in net.layers for a in r.arrays.values()) == 5_614_592


def test_reader_refuses_a_truncated_or_padded_file(tmp_path):
    data = _dat().read_bytes()
    for name, blob in (("cut.dat", data[:-7]), ("long.dat", data + b"\x00")):
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(WeightsError):
            read_dlib_dnn(p)


def test_port_equals_golden_descriptors(port):
    g = np.load(GOLDEN)
    diff = np.abs(_embed(port, g["chips"]) - g["descriptors"]).max()
    assert diff <= 1e-4, diff


def test_port_equals_dlib_on_real_chips(port, lfw_dir):
    dlib = pytest.importorskip("dlib", reason="dlib-bin (the reference implementation) is not installed")
    import cv2

    from lrface.models.dlib_weights import LANDMARKS5_FILE

    sp = dlib.shape_predictor(str(find_dlib_file(LANDMARKS5_FILE)))
    net = dlib.face_recognition_model_v1(str(_dat()))
    files = sorted((lfw_dir / "images").glob("*/*.jpg"))[::997][:12]
    chips = []
    for f in files:  # dlib's own chip pipeline on the 112 crops, padded for context
        img = cv2.copyMakeBorder(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), 56, 56, 56, 56,
                                 cv2.BORDER_REPLICATE)
        shape = sp(img, dlib.rectangle(67, 83, 153, 169))
        chips.append(np.asarray(dlib.get_face_chip(img, shape, size=150, padding=0.25)))
    chips = np.stack(chips)
    ref = np.array([np.array(net.compute_face_descriptor(c)) for c in chips])
    assert np.abs(_embed(port, chips) - ref).max() <= 1e-4


def test_shipped_hr_model_is_the_port_within_half_precision(port):
    import lrface

    hr = lrface.load_model("lrface-hr")
    g = np.load(GOLDEN)
    a, b = _embed(hr, g["chips"]), _embed(port, g["chips"])
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.9999 and np.abs(a - b).max() < 5e-3


def test_shipped_hr_model_matches_golden_without_dlib():
    import lrface

    hr = lrface.load_model("lrface-hr")
    g = np.load(GOLDEN)
    e = _embed(hr, g["chips"])
    cos = (e * g["descriptors"]).sum(1) / np.linalg.norm(e, axis=1) / np.linalg.norm(g["descriptors"], axis=1)
    assert cos.min() > 0.9999
    # dlib's own rule: same person when the Euclidean distance is below 0.6; each portrait
    # and its mirror image are the same person, the two portraits are not
    d = np.linalg.norm(e[:, None] - e[None], axis=2)
    assert d[0, 1] < 0.6 and d[2, 3] < 0.6 and d[0, 2] > 0.6


def test_residual_add_zero_pads_the_smaller_operand():
    a = torch.ones(1, 2, 3, 3)
    b = torch.full((1, 4, 4, 4), 2.0)
    s = add_padded(a, b)
    assert s.shape == (1, 4, 4, 4)
    assert s[0, :2, :3, :3].eq(3).all() and s[0, :2, 3, :].eq(2).all() and s[0, 2:].eq(2).all()


def test_sizes_run_as_dlib_computes_them():
    m = DlibResNet().eval()
    f = m.forward_features(torch.zeros(1, 3, 150, 150))
    assert [tuple(f[k].shape[2:]) for k in ("stem", "stage1", "stage2", "stage3", "stage4")] == \
        [(35, 35), (17, 17), (8, 8), (4, 4), (2, 2)]
    assert sum(p.numel() for p in m.parameters()) == 5_614_592


def test_download_is_checked_and_extracts_only_public_domain_files(tmp_path):
    good = b"resnet bytes"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in ((f"pkg/models/{RESNET_FILE}", good), ("pkg/models/other.dat", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()

    class Resp(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    def opener(url):
        return Resp(blob)

    with pytest.raises(WeightsError, match="sha256"):  # an archive that is not the published one
        download_dlib_models(tmp_path, [RESNET_FILE], opener=opener)
    assert not (tmp_path / RESNET_FILE).exists()
    with pytest.raises(WeightsError, match="public domain"):
        download_dlib_models(tmp_path, ["shape_predictor_68_face_landmarks.dat"], opener=opener)

    def offline(url):
        raise OSError("network unreachable")

    with pytest.raises(WeightsError, match="cannot download"):
        download_dlib_models(tmp_path, [RESNET_FILE], opener=offline)
    import hashlib

    import lrface.models.dlib_weights as dw

    old = dict(dw.SHA256), dw.SDIST_SHA256
    try:  # the same archive accepted once its digests are the expected ones
        dw.SHA256[RESNET_FILE] = hashlib.sha256(good).hexdigest()
        dw.SDIST_SHA256 = hashlib.sha256(blob).hexdigest()
        got = download_dlib_models(tmp_path, [RESNET_FILE], opener=opener)
        assert got[RESNET_FILE].read_bytes() == good
        assert download_dlib_models(tmp_path, [RESNET_FILE], opener=offline)[RESNET_FILE] == got[RESNET_FILE]
    finally:
        dw.SHA256.clear()
        dw.SHA256.update(old[0])
        dw.SDIST_SHA256 = old[1]
    assert SHA256[RESNET_FILE].startswith("55533b28")


def test_convert_cli_writes_a_loadable_port(tmp_path, port):
    from lrface.cli.convert import main
    from lrface.models.weights import load_model

    assert main([str(_dat()), str(tmp_path / "dlib.pt")]) == 0
    m = load_model(tmp_path / "dlib.pt")
    assert m.cfg.template == "dlib_chip" and m.cfg.input_size == (150, 150)
    g = np.load(GOLDEN)
    assert np.abs(_embed(m, g["chips"][:2]) - _embed(port, g["chips"][:2])).max() == 0


def test_reader_and_port_equal_dlib_on_a_file_written_in_its_format(tmp_path):
    """Without the published file: a dlib face ResNet with random weights, written in dlib's
    format (tests/dlib_writer.py), loaded by dlib itself and by lrface's reader."""
    dlib = pytest.importorskip("dlib", reason="dlib-bin (the reference implementation) is not installed")
    from dlib_writer import random_resnet_dat

    blob, convs = random_resnet_dat(seed=3)
    path = tmp_path / "random_resnet.dat"
    path.write_bytes(blob)
    net = read_dlib_dnn(path)
    assert [r.arrays["weight"].shape for r in net.of_kind("con")] == [w.shape for w in convs]
    assert all(np.array_equal(r.arrays["weight"], w) for r, w in zip(net.of_kind("con"), convs))
    state, _ = from_dlib(str(path))
    m = DlibResNet()
    m.load_state_dict(state)
    chips = np.load(GOLDEN)["chips"]
    ref = np.array([np.array(dlib.face_recognition_model_v1(str(path)).compute_face_descriptor(c)) for c in chips])
    ours = _embed(m.eval(), chips)
    assert np.abs(ours - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())


# --------------------------------------------------------------------------- dlib's 5-point landmarks


def test_landmark_model_places_points_as_dlib_does(lfw_dir):
    """lrface's numpy port of dlib's shape predictor against dlib itself (rounded to whole
    pixels as dlib's points are): the shipped conversion, on LFW crops padded for context."""
    dlib = pytest.importorskip("dlib", reason="dlib-bin (the reference implementation) is not installed")
    import cv2

    from lrface.face.dlib_landmarks import landmark_model
    from lrface.models.dlib_weights import LANDMARKS5_FILE

    try:
        ref = dlib.shape_predictor(str(find_dlib_file(LANDMARKS5_FILE)))
    except WeightsError as e:
        pytest.skip(str(e))
    files = sorted((lfw_dir / "images").glob("*/*.jpg"))[::331][:40]
    imgs = np.stack([cv2.copyMakeBorder(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB), 56, 56, 56, 56,
                                        cv2.BORDER_REPLICATE) for f in files])
    box = (67, 83, 153, 169)
    want = np.array([[[p.x, p.y] for p in ref(im, dlib.rectangle(*box)).parts()] for im in imgs], float)
    got = landmark_model().batch(imgs, np.tile(box, (len(imgs), 1)))
    off = np.abs(np.floor(got + 0.5) - want)
    assert off.max() <= 1 and (off > 0).mean() < 0.02  # float rounding may move a point by one pixel
    assert np.abs(got[0] - landmark_model()(imgs[0], box)).max() < 1e-3  # one face = the batch's row


def test_shipped_landmark_model_is_dlibs_file_converted(tmp_path):
    from lrface.face.dlib_landmarks import SHIPPED, SHIPPED_SHA256, read_shape_predictor
    from lrface.models.dlib_weights import LANDMARKS5_FILE
    from lrface.models.weights import PACKAGE_WEIGHTS, sha256_file

    assert sha256_file(PACKAGE_WEIGHTS / SHIPPED) == SHIPPED_SHA256
    try:
        src = find_dlib_file(LANDMARKS5_FILE)
    except WeightsError as e:
        pytest.skip(str(e))
    read_shape_predictor(src).save(tmp_path / "sp.npz")
    assert sha256_file(tmp_path / "sp.npz") == SHIPPED_SHA256  # byte for byte


def test_full_resolution_chips_are_cut_at_dlibs_landmarks():
    """A 112 ArcFace crop made from a dlib chip is cut back into (nearly) the same chip at dlib's
    landmarks: the port embeds both alike. An LR frame takes the fixed map."""
    import cv2

    import lrface
    from lrface.face.align import ARCFACE_TO_DLIB_CHIP
    from lrface.models.inputs import REFINE_MIN_SIDE, chip_view, dlib_chip_from_frames

    chips = np.load(GOLDEN)["chips"][:4]
    back = cv2.invertAffineTransform(ARCFACE_TO_DLIB_CHIP)
    faces = np.stack([cv2.warpAffine(c, back, (112, 112), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
                      for c in chips])
    v = chip_view(faces, (150, 150))
    assert np.array_equal(v, dlib_chip_from_frames(faces, (150, 150)))
    hr = lrface.load_model("lrface-hr")
    a, b = _embed(hr, chips), _embed(hr, v)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.98, cos
    small = faces[:, ::8, ::8].copy()  # a 14 px frame: below REFINE_MIN_SIDE, the fixed map
    assert small.shape[1] < REFINE_MIN_SIDE and chip_view(small, (150, 150)).shape == (4, 150, 150, 3)
