"""Protocols end to end on tiny fixture trees with the official file names.

Fixture faces are synthetic faces (lrface.data.synthetic) tinted with one colour per
identity (the 8 corners of the RGB cube), so an "oracle" embedding function can read the
identity back from the centre of any aligned crop, at 112 px or after degradation to 12 px.
That makes every expected metric computable by hand.
"""
from __future__ import annotations

import csv
import io
import tarfile
import urllib.error

import cv2
import numpy as np
import pytest

from lrface.data.synthetic import render_face, render_scene
from lrface.errors import DatasetLayoutError
from lrface.eval.metrics import kfold_verification
from lrface.eval.protocols import (
    PROTOCOLS,
    LFWSurveillance,
    LFWVerification,
    SCface,
    UCCSClosedSet,
    UCCSWatchlist,
    embed_faces,
    get_protocol,
    parse_pairs,
)
from lrface.eval.protocols import faces as faces_mod
from lrface.eval.protocols import lfw_download
from lrface.eval.protocols.faces import box_landmarks, landmarks_box

PALETTE = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], float)


def tint(img: np.ndarray, colour: int) -> np.ndarray:
    return np.clip(0.75 * PALETTE[colour] + 0.25 * img, 0, 255).astype(np.uint8)


def decode(faces: np.ndarray) -> np.ndarray:
    """Colour index of the centre of each face, whatever its size."""
    h, w = faces.shape[1:3]
    c = faces[:, int(h * 0.4): max(int(h * 0.6), int(h * 0.4) + 1), int(w * 0.4): max(int(w * 0.6), int(w * 0.4) + 1)]
    mean = c.reshape(len(faces), -1, 3).mean(1)
    # Undo the tint's face contribution approximately: nearest cube corner of the mean.
    return np.argmin(((mean[:, None] - 0.75 * PALETTE[None] - 32) ** 2).sum(-1), axis=1)


def oracle(perm_lr=None, log=None):
    """One-hot colour embedding; LR faces (res given) optionally see permuted colours."""
    def fn(faces, res):
        if log is not None:
            log.append((faces.shape, res, faces.copy()))
        ids = decode(faces)
        if res is not None and perm_lr is not None:
            ids = np.array([perm_lr.get(int(i), int(i)) for i in ids])
        return np.eye(8)[ids]
    return fn


def write(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])


def no_embed(faces, res):  # layout errors must surface before any embedding work
    raise AssertionError("embed_fn called")


# --------------------------------------------------------------------------- LFW layout
PEOPLE = {"Alice_A": (0, 2), "Bob_B": (1, 2), "Carl_C": (2, 2), "Dana_D": (3, 2), "Eve_E": (4, 1)}
PAIRS = """2\t2
Alice_A\t1\t2
Bob_B\t1\t2
Alice_A\t1\tCarl_C\t1
Bob_B\t2\tDana_D\t1
Carl_C\t1\t2
Dana_D\t1\t2
Carl_C\t2\tEve_E\t1
Alice_A\t2\tBob_B\t1
"""


@pytest.fixture(scope="module")
def lfw_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lfw")
    for name, (colour, n) in PEOPLE.items():
        for k in range(1, n + 1):
            write(root / "images" / name / f"{name}_{k:04d}.jpg", tint(render_face(colour, k)[0], colour))
    (root / "pairs.txt").write_text(PAIRS)
    return root


def test_registry_and_no_io_constructors(tmp_path):
    assert PROTOCOLS.names() == ["lfw", "lfw-surveillance", "scface", "uccs-closed", "uccs-watchlist"]
    for name in PROTOCOLS:  # constructors store settings only: a missing root is fine here
        assert get_protocol(name, root=tmp_path / "nowhere").name == name
    with pytest.raises(KeyError, match="Did you mean"):
        get_protocol("scfase")
    with pytest.raises(ValueError, match="preset"):
        LFWVerification(tmp_path, degrade="nope")


def test_import_is_model_free_and_quiet():
    import subprocess
    import sys

    code = ("import sys, lrface.eval.protocols; "
            "bad = [m for m in sys.modules if m.startswith(('torch', 'lrface.models', 'lrface.distill'))]; "
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr


def test_parse_pairs(lfw_root, tmp_path):
    p = parse_pairs(lfw_root / "pairs.txt")
    assert len(p) == 8 and p.n_folds == 2 and p.labels.tolist() == [1, 1, 0, 0] * 2
    assert p.folds.tolist() == [0] * 4 + [1] * 4 and p.second[2] == ("Carl_C", 1)
    assert len(p.images()) == 9
    # View-1 style: no header -> stratified folds.
    (tmp_path / "dev.txt").write_text("A 1 2\nB 1 2\nC 1 2\nA 1 B 1\nB 2 C 1\nC 2 A 2\n")
    d = parse_pairs(tmp_path / "dev.txt", default_folds=2)
    assert d.labels.tolist() == [1, 1, 1, 0, 0, 0] and d.folds.tolist() == [0, 1, 0, 0, 1, 0]
    (tmp_path / "bad.txt").write_text("1 2\nA 1\n")
    with pytest.raises(DatasetLayoutError, match=r"bad.txt:2: expected"):
        parse_pairs(tmp_path / "bad.txt")
    (tmp_path / "count.txt").write_text("2 300\nA 1 2\n")
    with pytest.raises(DatasetLayoutError, match="header says"):
        parse_pairs(tmp_path / "count.txt")


def test_lfw_modes_end_to_end(lfw_root, monkeypatch):
    reads = []
    real = faces_mod.read_image
    monkeypatch.setattr(faces_mod, "read_image", lambda p: reads.append(p) or real(p))
    proto = LFWVerification(lfw_root)
    log = []
    for mode, res in (("hr-hr", None), ("lr-lr", 12)):
        r = proto.evaluate(oracle({0: 1, 1: 0}, log), res=res, mode=mode)
        assert r["accuracy"] == 1.0 and r["auc"] == 1.0 and r["eer"] == 0.0
        assert r["tar_at_far_1e-3"] == 1.0 and r["mode"] == mode and r["res"] == res
    assert {(s[1:], res) for s, res, _ in log} == {((112, 112, 3), None), ((12, 12, 3), 12)}
    assert sum(s[0] for s, _, _ in log) == 18  # 9 distinct images per mode, each embedded once
    # hr-lr: LR sides see Alice and Bob swapped; scores by hand (see test_kfold_hand_case).
    r = proto.evaluate(oracle({0: 1, 1: 0}), res=12, mode="hr-lr")
    expect = kfold_verification(np.array([0, 0, 0, 0, 1, 1, 0, 1.0]), np.array([1, 1, 0, 0] * 2), folds=2)
    assert r["accuracies"] == expect["accuracies"] == [0.5, 0.5]
    assert len(reads) == 9  # each distinct image decoded once, across all three evaluations
    assert r["n_pairs"] == 8 and r["dataset"] == "lfw" and r["flip"] is False
    with pytest.raises(ValueError, match="needs res"):
        proto.evaluate(oracle(), mode="lr-lr")
    with pytest.raises(ValueError, match="unknown mode"):
        proto.evaluate(oracle(), res=12, mode="lr-hr")


def test_lfw_bad_roots(lfw_root, tmp_path):
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        LFWVerification(tmp_path / "missing").evaluate(no_embed, res=12)
    with pytest.raises(DatasetLayoutError, match=r"expected .*pairs\.txt"):
        LFWVerification(tmp_path).evaluate(no_embed, res=12)
    (tmp_path / "pairs.txt").write_text(PAIRS)
    (tmp_path / "imgs" / "Alice_A").mkdir(parents=True)  # wrong folder name
    with pytest.raises(DatasetLayoutError, match=r"9 of 9 images .* missing, e\.g\. .*Alice_A_0001\.jpg"):
        LFWVerification(tmp_path).evaluate(no_embed, res=12)
    # Flat layout <root>/<Name>/... is accepted too.
    flat = tmp_path / "flat"
    for d in (lfw_root / "images").iterdir():
        for f in d.iterdir():
            (flat / d.name).mkdir(parents=True, exist_ok=True)
            (flat / d.name / f.name).write_bytes(f.read_bytes())
    (flat / "pairs.txt").write_text(PAIRS)
    (flat / "Eve_E" / "Eve_E_0001.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match=r"1 of 9 .*Eve_E_0001\.jpg"):
        LFWVerification(flat).evaluate(no_embed, res=12)


def test_unaligned_images_use_aligner_then_fallback(tmp_path):
    for name, (colour, n) in PEOPLE.items():
        for k in range(1, n + 1):
            img, _ = render_scene(colour, k, canvas=(150, 150), face_px=56)
            write(tmp_path / name / f"{name}_{k:04d}.jpg", tint(img, colour))
    (tmp_path / "pairs.txt").write_text(PAIRS)
    calls = []

    def aligner(img):
        calls.append(img.shape)
        return None if len(calls) == 1 else cv2.resize(img, (112, 112))

    r = LFWVerification(tmp_path, aligner=aligner).evaluate(oracle(), mode="hr-hr")
    assert len(calls) == 9 and calls[0] == (150, 150, 3)
    assert r["n_align_fallback"] == 1 and r["accuracy"] == 1.0


def test_embed_faces_flip_normalise_and_validation():
    x = np.zeros((3, 112, 112, 3), np.uint8)
    x[:, :, :56] = 200  # left half bright
    fn = lambda f, r: np.stack([f[:, 0, 0, 0], f[:, 0, -1, 0]], 1).astype(float) + 1
    e = embed_faces(fn, x, None)
    assert np.allclose(e[0], np.array([201, 1]) / np.hypot(201, 1))
    ef = embed_faces(fn, x, None, flip=True)
    assert np.allclose(ef, np.sqrt(0.5)) and np.allclose(np.linalg.norm(ef, axis=1), 1)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        embed_faces(lambda f, r: np.ones(len(f)), x, None)
    with pytest.raises(ValueError, match="NaN"):
        embed_faces(lambda f, r: np.full((len(f), 2), np.nan), x, None)
    # Degradation keys make results independent of the batch size.
    y = np.random.default_rng(0).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    raw = lambda f, r: f.reshape(len(f), -1).astype(float)
    a = embed_faces(raw, y, 12, preset="surveillance", seed=3, batch_size=2)
    b = embed_faces(raw, y, 12, preset="surveillance", seed=3, batch_size=5)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- LFW surveillance
def test_lfw_surveillance(lfw_root):
    log = []
    proto = LFWSurveillance(lfw_root, seed=1)
    r = proto.evaluate(oracle(log=log))
    assert r["n_gallery"] == 4 and r["n_probes"] == 4 and r["res"] == [32, 20, 12]
    for d in (32, 20, 12):
        assert r[f"rank1_{d}px"] == 1.0 and r[f"cmc_{d}px"] == [1.0] * 4
    assert [(s, res) for s, res, _ in log] == [((4, 112, 112, 3), None)] + [
        ((4, d, d, 3), d) for d in (32, 20, 12)]
    # Gallery = the _0001 image of each identity with >= 2 images (Eve has one: excluded).
    paths, labels, gallery = proto.check()
    assert [p.name for p, g in zip(paths, gallery) if g] == [f"{n}_0001.jpg" for n in list(PEOPLE)[:4]]
    # Swapping Alice and Bob at LR: those probes rank last (4th, ties counted against).
    r = proto.evaluate(oracle({0: 1, 1: 0}), res=20)
    assert r["rank1"] == 0.5 and r["cmc"] == [0.5, 0.5, 0.5, 1.0] and r["res"] == 20
    # Seeded: same seed -> identical LR probes; another seed -> different ones.
    log2, log3 = [], []
    LFWSurveillance(lfw_root, seed=1).evaluate(oracle(log=log2))
    LFWSurveillance(lfw_root, seed=2).evaluate(oracle(log=log3))
    assert np.array_equal(log[1][2], log2[1][2]) and not np.array_equal(log[1][2], log3[1][2])
    sub = LFWSurveillance(lfw_root, max_identities=2).evaluate(oracle(), res=12)
    assert sub["n_gallery"] == 2 and sub["rank1"] == 1.0


# --------------------------------------------------------------------------- SCface
SC_SUBJECTS = {1: 0, 2: 1, 51: 2, 52: 3, 53: 4}


@pytest.fixture(scope="module")
def scface_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("scface")
    rows = []
    for s, colour in SC_SUBJECTS.items():
        img, lm = render_scene(colour, 0, canvas=(200, 160), face_px=70)
        write(root / "mugshot_frontal_original_all" / f"{s:03d}_frontal.jpg", tint(img, colour))
        rows.append([f"{s:03d}_frontal.jpg", *lm.ravel()])
        for c in range(1, 6):
            for d in range(1, 4):
                px = {1: 20, 2: 30, 3: 45}[d]
                img, lm = render_scene(colour, 10 * c + d, canvas=(int(2.4 * px), int(2.2 * px)), face_px=px)
                write(root / "surveillance_cameras_all" / f"{s:03d}_cam{c}_{d}.jpg", tint(img, colour))
                rows.append([f"{s:03d}_cam{c}_{d}.jpg", *lm.ravel()])
    with open(root / "landmarks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file"] + [f"{a}{i}" for i in range(1, 6) for a in "xy"])
        w.writerows(rows)
    return root


def test_scface_end_to_end(scface_root):
    never = lambda img: pytest.fail("aligner called although landmarks exist")
    proto = SCface(scface_root, subjects=list(SC_SUBJECTS), aligner=never)
    r = proto.evaluate(oracle(), res=16)
    assert r["mode"] == "hr-lr" and r["n_gallery"] == 5 and r["n_probes"] == 75
    for tag in ("", "_d1", "_d2", "_d3"):
        assert r[f"rank1{tag}"] == 1.0 and r[f"cmc{tag}"] == [1.0] * 5
    # LR probes of subjects 001 and 002 swapped: 3 of 5 subjects right at every distance; the
    # swapped ones score 0 against their own mugshot, tied with three others -> rank 5.
    r = proto.evaluate(oracle({0: 1, 1: 0}), res=16)
    for tag in ("", "_d1", "_d2", "_d3"):
        assert r[f"rank1{tag}"] == pytest.approx(0.6) and r[f"cmc{tag}"] == pytest.approx([0.6] * 4 + [1.0])
    assert proto.evaluate(oracle({0: 1, 1: 0}))["rank1"] == 1.0  # hr-hr: nothing degraded
    assert r["n_align_fallback"] == 0


def test_scface_detection_path_and_splits(scface_root, tmp_path):
    calls = []
    aligner = lambda img: calls.append(img.shape) or cv2.resize(img, (112, 112))
    lm = tmp_path / "none.csv"
    lm.write_text("file,reye_x,reye_y,leye_x,leye_y\n")  # empty eye file: detection for all
    r = SCface(scface_root, subjects=[1, 2, 51], landmarks=lm, aligner=aligner).evaluate(oracle(), res=12)
    assert len(calls) == 3 + 45 and r["rank1"] == 1.0
    assert SCface(scface_root, split="50-80").subjects == tuple(range(51, 131))
    with pytest.raises(DatasetLayoutError, match=r"054_frontal\.jpg"):
        SCface(scface_root, split="50-80").evaluate(no_embed, res=12)
    with pytest.raises(DatasetLayoutError, match="expected folder .*mugshot_frontal_original_all"):
        SCface(tmp_path, subjects=[1, 2]).evaluate(no_embed)
    (tmp_path / "mugshot_frontal_original_all").mkdir()
    with pytest.raises(DatasetLayoutError, match="expected folder .*surveillance_cameras_all"):
        SCface(tmp_path, subjects=[1, 2]).evaluate(no_embed)
    with pytest.raises(ValueError, match="unknown SCface split"):
        SCface(scface_root, split="80")


# --------------------------------------------------------------------------- UCCS
GALLERY_SUBJECTS = {1: 0, 2: 1, 3: 2}
# (frame, face id, subject id, colour, box)
FACES = [
    ("frame_a.jpg", 11, 1, 0, (20, 30, 60, 60)),
    ("frame_a.jpg", 12, 2, 1, (120, 40, 70, 70)),
    ("frame_a.jpg", 13, -1, 5, (220, 60, 50, 50)),
    ("frame_b.jpg", 21, 3, 2, (10, 10, 64, 64)),
    ("frame_b.jpg", 22, 1, 0, (100, 100, 80, 80)),
    ("frame_b.jpg", 23, -1, 6, (200, 20, 56, 56)),
    ("frame_b.jpg", 24, 2, 1, (230, 150, 60, 60)),  # excluded: cropped into the gallery
]


@pytest.fixture(scope="module")
def uccs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("uccs")
    rows = []
    for s, colour in GALLERY_SUBJECTS.items():
        for k in range(2):
            img, lm = render_face(colour, 20 + k)
            name = f"{s:04d}_{k}.png"
            folder = root / "gallery_images" / f"{s:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / name), cv2.cvtColor(tint(img, colour), cv2.COLOR_RGB2BGR))
            rows.append([f"{s:04d}/{name}" if s == 1 else name, s, *lm.ravel()])
    with open(root / "gallery.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["FILE", "SUBJECT_ID", "REYE_X", "REYE_Y", "LEYE_X", "LEYE_Y", "NOSE_X", "NOSE_Y",
                    "RMOUTH_X", "RMOUTH_Y", "LMOUTH_X", "LMOUTH_Y"])
        w.writerows(rows)
    frames = {}
    for frame, fid, sid, colour, (x, y, w_, h) in FACES:
        canvas = frames.setdefault(frame, np.full((240, 320, 3), 128, np.uint8))
        canvas[y:y + h, x:x + w_] = cv2.resize(tint(render_face(colour, fid)[0], colour), (w_, h))
    for frame, canvas in frames.items():
        write(root / "validation_images" / frame, canvas)
    with open(root / "validation.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["FILE", "FACE_ID", "SUBJECT_ID", "FACE_X", "FACE_Y", "FACE_WIDTH", "FACE_HEIGHT"])
        w.writerows([[fr.replace(".jpg", "") if fid == 11 else fr, fid, sid, *box]
                     for fr, fid, sid, _, box in FACES])
    (root / "exclude_gallery_validation.txt").write_text("24\n")
    return root


def test_uccs_watchlist(uccs_root):
    proto = UCCSWatchlist(uccs_root, fars=(0.1, 0.5))
    r = proto.evaluate(oracle(), res=16)
    assert (r["n_gallery"], r["n_known"], r["n_unknown"]) == (3, 4, 2)
    assert r["rank1"] == 1.0 and r["dir_at_far_1e-1"] == 1.0 and r["dir_at_far_5e-1"] == 1.0
    # Subject 1's LR probes look unknown (colour 5): 2 of 4 known probes lost.
    r = proto.evaluate(oracle({0: 5}), res=16)
    assert r["rank1"] == 0.5 and r["cmc"] == [0.5, 0.5, 1.0] and r["dir_at_far_1e-1"] == 0.5
    # The unknown with colour 5 looks like subject 2: one non-mated probe scores 1, so at
    # FPIR 0.1 (no alarm allowed) nothing is accepted; at 0.5 (one alarm) all are.
    r = proto.evaluate(oracle({5: 1}), res=16)
    assert r["rank1"] == 1.0 and r["dir_at_far_1e-1"] == 0.0 and r["dir_at_far_5e-1"] == 1.0
    c = UCCSClosedSet(uccs_root).evaluate(oracle({0: 1}), res=16)
    assert c["n_unknown"] == 0 and c["rank1"] == 0.5 and "dir_at_far_1e-1" not in c
    assert c["protocol"] == "uccs-closed" and c["rank5"] == 1.0


def test_uccs_bad_layout(uccs_root, tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"gallery\.csv"):
        UCCSWatchlist(tmp_path).evaluate(no_embed, res=16)
    (tmp_path / "gallery.csv").write_text("FILE,SUBJECT_ID\n")
    with pytest.raises(DatasetLayoutError, match="REYE_X"):
        UCCSWatchlist(tmp_path).evaluate(no_embed, res=16)
    (tmp_path / "gallery.csv").write_text((uccs_root / "gallery.csv").read_text())
    (tmp_path / "validation.csv").write_text((uccs_root / "validation.csv").read_text())
    with pytest.raises(DatasetLayoutError, match=r"gallery_images.*0001_0\.png"):
        UCCSWatchlist(tmp_path).evaluate(no_embed, res=16)


def test_box_landmark_geometry():
    lm = box_landmarks((10, 20, 40, 40))
    np.testing.assert_allclose(landmarks_box(lm), (10, 20, 40, 40), atol=1e-9)
    # The box-implied crop of a rendered face lands near the template (within a few px).
    img, true = render_scene(3, 1, canvas=(200, 200), face_px=80, max_rotation=0)
    box = landmarks_box(true)
    assert np.abs(box_landmarks(box) - true).max() < 8


# --------------------------------------------------------------------------- LFW download
def _tgz(members: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _fake_remote(monkeypatch, contents: dict, fail=()):
    """Serve ``{url: bytes}``; URLs in ``fail`` raise URLError. Checksums follow contents."""
    import hashlib

    def urlopen(url, timeout=None):
        if url in fail or url not in contents:
            raise urllib.error.URLError("network unreachable")
        return io.BytesIO(contents[url])

    monkeypatch.setattr(lfw_download, "urlopen", urlopen)
    sha = {u: hashlib.sha256(b).hexdigest() for u, b in contents.items()}
    pairs = lfw_download.RemoteFile("pairs.txt", ("http://a/pairs.txt", "http://b/pairs.txt"),
                                    sha.get("http://b/pairs.txt", "0" * 64))
    arch = lfw_download.RemoteFile("lfw.tgz", ("http://a/lfw.tgz",), sha.get("http://a/lfw.tgz", "0" * 64))
    monkeypatch.setattr(lfw_download, "LFW_FILES", (pairs,))
    monkeypatch.setattr(lfw_download, "LFW_ARCHIVE", arch)


def test_download_lfw_with_fallback_url_and_safe_extract(monkeypatch, tmp_path):
    archive = _tgz({"lfw/Ann_A/Ann_A_0001.jpg": b"jpeg", "lfw/../evil.jpg": b"x", "/abs.jpg": b"x"})
    _fake_remote(monkeypatch, {"http://b/pairs.txt": PAIRS.encode(), "http://a/lfw.tgz": archive},
                 fail=("http://a/pairs.txt",))
    root = lfw_download.download_lfw(tmp_path / "lfw")
    assert (root / "pairs.txt").read_text() == PAIRS
    assert (root / "images" / "Ann_A" / "Ann_A_0001.jpg").read_bytes() == b"jpeg"
    assert not (tmp_path / "evil.jpg").exists() and not (root / "lfw.tgz").exists()
    assert sorted(p.name for p in root.iterdir()) == ["images", "pairs.txt"]  # no partial files
    lfw_download.download_lfw(root)  # second call: everything present, nothing fetched


def test_download_lfw_clear_errors(monkeypatch, tmp_path):
    _fake_remote(monkeypatch, {})
    with pytest.raises(lfw_download.DownloadError, match=r"could not download pairs\.txt.*by hand.*pairs\.txt"):
        lfw_download.download_lfw(tmp_path, images=False)
    _fake_remote(monkeypatch, {"http://b/pairs.txt": b"x"})
    monkeypatch.setattr(lfw_download, "LFW_FILES", (lfw_download.RemoteFile(
        "pairs.txt", ("http://b/pairs.txt",), "f" * 64),))
    with pytest.raises(lfw_download.DownloadError, match="checksum mismatch"):
        lfw_download.download_lfw(tmp_path, images=False)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_lfw_pairs(lfw_dir):
    pairs, paths = LFWVerification(lfw_dir).check()  # raises if any referenced image is missing
    assert len(pairs) == 6000 and int(pairs.labels.sum()) == 3000 and pairs.n_folds == 10
    assert np.bincount(pairs.folds).tolist() == [600] * 10
    assert all(int(pairs.labels[pairs.folds == f].sum()) == 300 for f in range(10))
    assert len(paths) == len(set(paths)) and all(p.is_file() for p in paths[:50])
    dev = parse_pairs(lfw_dir / "pairsDevTest.txt")
    assert len(dev) == 1000 and int(dev.labels.sum()) == 500
    import hashlib

    official = next(f for f in lfw_download.LFW_FILES if f.name == "pairs.txt").sha256
    assert hashlib.sha256((lfw_dir / "pairs.txt").read_bytes()).hexdigest() == official
