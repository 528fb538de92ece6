"""Tests of the one low-resolution pipeline, lrface.face.degrade.

Golden tests (``test_golden_*``) compare every preset's output, bit for bit, with
``tests/golden/degrade_golden.npz``; they fail (never skip) when that file is missing or
when a random stream, kernel, stage order or rounding changes. Regenerate the file ON
PURPOSE only, once the new output is known to be the intended one:

    python tests/golden/make_degrade_golden.py            # rewrite the golden file
    python tests/golden/make_degrade_golden.py --check    # compare only

(see that script's docstring for what is stored and what the values depend on).
"""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from lrface.face.degrade import PRESETS, Degradation, degrade, get_preset, list_presets

KERNELS = ["area", "bicubic", "bilinear", "nearest"]


def _face_like(n: int = 1, size: int = 112, seed: int = 0) -> np.ndarray:
    """Smooth random RGB images: natural-image-like spectra, so resamplers agree closely.

    (On white noise PIL's two-pass uint8 intermediate clips bicubic overshoot, which makes
    references disagree by more than rounding.)
    """
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return np.stack([cv2.GaussianBlur(im, (0, 0), 2.0) for im in x])


def _maxdiff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


@pytest.fixture(scope="module")
def hr() -> np.ndarray:
    return _face_like(4)


# --------------------------------------------------------------------------- sizes
@pytest.mark.parametrize("kernel", KERNELS)
def test_exact_size_every_res_single_and_batch(hr: np.ndarray, kernel: str) -> None:
    for res in range(8, 113):
        assert degrade(hr[0], res, kernel).shape == (res, res, 3)
        out = degrade(hr[:2], res, kernel)
        assert out.shape == (2, res, res, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("size", [(8, 8), (16, 12), (13, 9), (1, 1), (111, 7), (112, 96), (150, 120)])
def test_tuple_res_gives_exact_size(hr: np.ndarray, size: tuple) -> None:
    assert degrade(hr[0], size, "bicubic").shape == (*size, 3)
    assert degrade(hr, size, "surveillance", seed=2).shape == (4, *size, 3)


def test_small_and_upsampling_res(hr: np.ndarray) -> None:
    for res in (1, 2, 3, 5, 113, 150, 224):
        assert degrade(hr[0], res, "area").shape == (res, res, 3)


def test_non_square_int_res_keeps_aspect(hr: np.ndarray) -> None:
    x = hr[0, :, :80]  # 112 x 80
    assert degrade(x, 16).shape == (16, round(16 * 80 / 112), 3)
    assert degrade(x, 56).shape == (56, 40, 3)


def test_upsample_field(hr: np.ndarray) -> None:
    assert degrade(hr, 16, "area", upsample=112).shape == (4, 112, 112, 3)
    assert degrade(hr[0], 12, "bicubic", upsample=(112, 96)).shape == (112, 96, 3)
    assert get_preset("area-up112").upsample == 112
    assert degrade(hr[0], 20, "area-up112").shape == (112, 112, 3)


def test_empty_batch(hr: np.ndarray) -> None:
    assert degrade(hr[:0], 16).shape == (0, 16, 16, 3)


# --------------------------------------------------------------------------- references
@pytest.mark.parametrize("res", [8, 12, 16, 17, 24, 32, 37, 56, 64, 100, 111])
def test_area_matches_cv2_inter_area(res: int) -> None:
    x = _face_like(2, seed=res)
    ours = degrade(x, res, "area")
    for i in range(2):
        ref = cv2.resize(x[i], (res, res), interpolation=cv2.INTER_AREA)
        assert _maxdiff(ours[i], ref) <= 1
    # non-square input, non-integer factors in both directions
    y = x[0, :100, :90]
    ref = cv2.resize(y, (27, 19), interpolation=cv2.INTER_AREA)
    assert _maxdiff(degrade(y, (19, 27), "area"), ref) <= 1


@pytest.mark.parametrize("kernel,pil", [("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR)])
@pytest.mark.parametrize("res", [8, 13, 16, 20, 32, 56, 111])
def test_antialiased_kernels_match_pil(kernel: str, pil: int, res: int) -> None:
    x = _face_like(1, seed=res)[0]
    ref = np.asarray(Image.fromarray(x).resize((res, res), pil))
    assert _maxdiff(degrade(x, res, kernel, antialias=True), ref) <= 2


@pytest.mark.parametrize("res", [17, 32, 64, 112, 113])
def test_upsampling_matches_cv2(res: int) -> None:
    lr = degrade(_face_like(1, seed=res)[0], 16, "area")
    cubic = cv2.resize(lr, (res, res), interpolation=cv2.INTER_CUBIC)
    linear = cv2.resize(lr, (res, res), interpolation=cv2.INTER_LINEAR)
    assert _maxdiff(degrade(lr, res, "bicubic", antialias=False), cubic) <= 2
    assert _maxdiff(degrade(lr, res, "bilinear", antialias=False), linear) <= 2
    # the upsample stage uses the same (cv2 INTER_CUBIC) convention
    assert _maxdiff(degrade(lr, 16, "area", upsample=res), cubic) <= 2


def test_area_down_cubic_up_baseline_matches_cv2_chain() -> None:
    x = _face_like(1, seed=7)[0]
    for res in (8, 12, 16, 20, 24, 32):
        ref = cv2.resize(cv2.resize(x, (res, res), interpolation=cv2.INTER_AREA), (112, 112),
                         interpolation=cv2.INTER_CUBIC)
        assert _maxdiff(degrade(x, res, "area-up112"), ref) <= 2


@pytest.mark.parametrize("res", [8, 13, 24, 56])
def test_non_antialiased_downsampling_matches_cv2(res: int) -> None:
    x = _face_like(1, seed=res)[0]
    assert _maxdiff(degrade(x, res, "bicubic", antialias=False),
                    cv2.resize(x, (res, res), interpolation=cv2.INTER_CUBIC)) <= 2
    assert _maxdiff(degrade(x, res, "bilinear", antialias=False),
                    cv2.resize(x, (res, res), interpolation=cv2.INTER_LINEAR)) <= 2


def test_nearest_matches_cv2_exact_except_at_ties() -> None:
    # x-coordinate ramp: the output value is the source column index that was picked.
    ramp = np.tile(np.arange(112, dtype=np.uint8)[None, :, None], (112, 1, 3))
    for res in range(1, 200):
        ours = degrade(ramp, res, "nearest")[0, :, 0].astype(int)
        ref = cv2.resize(ramp, (res, res), interpolation=cv2.INTER_NEAREST_EXACT)[0, :, 0].astype(int)
        for i in np.nonzero(ours != ref)[0]:
            # only where the output centre falls exactly on a pixel boundary
            assert ((2 * i + 1) * 112) % (2 * res) == 0 and abs(ours[i] - ref[i]) == 1


def test_antialias_actually_lowpasses() -> None:
    # A 1-pixel checkerboard has all its energy above the LR Nyquist frequency: an
    # antialiased shrink must give flat grey, an aliased one does not.
    checker = ((np.indices((112, 112)).sum(0) % 2) * 255).astype(np.uint8)
    x = np.repeat(checker[:, :, None], 3, axis=2)
    aa = degrade(x, 16, "bicubic", antialias=True).astype(int)
    assert np.abs(aa - 128).max() <= 2
    assert np.ptp(degrade(x, 16, "nearest")) == 255


# --------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("antialias", [True, False])
def test_constant_image_stays_constant(kernel: str, antialias: bool) -> None:
    for value in (0, 1, 77, 254, 255):
        x = np.full((2, 112, 112, 3), value, np.uint8)
        for res in (8, 9, 16, 33, 111, 112, 150, (13, 21)):
            out = degrade(x, res, kernel, antialias=antialias, blur_sigma=1.5, upsample=None)
            assert (out == value).all(), (kernel, antialias, value, res)
        up = degrade(x, 16, kernel, antialias=antialias, upsample=112, upsample_kernel=kernel)
        assert (up == value).all()


def test_identity_size_is_lossless(hr: np.ndarray) -> None:
    for kernel in KERNELS:
        assert np.array_equal(degrade(hr, 112, kernel), hr)


def test_blur_reduces_detail(hr: np.ndarray) -> None:
    sharp = degrade(hr[0], 56, "area").astype(float)
    blurred = degrade(hr[0], 56, "area", blur_sigma=3.0).astype(float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(sharp, axis=1)).mean()


def test_input_not_modified(hr: np.ndarray) -> None:
    before = hr.copy()
    degrade(hr, 16, "surveillance", seed=1)
    assert np.array_equal(hr, before)


# --------------------------------------------------------------------------- randomness
def test_deterministic_per_seed(hr: np.ndarray) -> None:
    a = degrade(hr, 16, "surveillance", seed=11)
    b = degrade(hr.copy(), 16, "surveillance", seed=11)
    assert np.array_equal(a, b)


def test_different_seeds_differ(hr: np.ndarray) -> None:
    a = degrade(hr, 16, "surveillance", seed=1)
    b = degrade(hr, 16, "surveillance", seed=2)
    assert not np.array_equal(a, b)
    for i in range(len(hr)):  # every image gets its own draw
        assert not np.array_equal(a[i], b[i])


def test_images_in_a_batch_get_different_draws() -> None:
    x = np.repeat(_face_like(1)[0][None], 3, axis=0)
    out = degrade(x, 16, "surveillance", seed=0)
    assert not np.array_equal(out[0], out[1]) and not np.array_equal(out[1], out[2])


@pytest.mark.parametrize("preset", ["surveillance", "mild"])
def test_batch_composition_independence(hr: np.ndarray, preset: str) -> None:
    full = degrade(hr, 14, preset, seed=5)
    # a prefix of the batch, and different neighbours, give the same images
    assert np.array_equal(degrade(hr[:2], 14, preset, seed=5), full[:2])
    other = hr.copy()
    other[1:] = _face_like(3, seed=99)
    assert np.array_equal(degrade(other, 14, preset, seed=5)[0], full[0])
    # a chunk processed alone, keyed by its dataset indices
    assert np.array_equal(degrade(hr[2:], 14, preset, seed=5, indices=[2, 3]), full[2:])
    assert np.array_equal(degrade(hr[3], 14, preset, seed=5, indices=3), full[3])
    # reversed order with matching indices
    rev = degrade(hr[::-1].copy(), 14, preset, seed=5, indices=[3, 2, 1, 0])
    assert np.array_equal(rev[::-1], full)


def test_deterministic_presets_ignore_seed(hr: np.ndarray) -> None:
    for name in ("area", "bicubic", "bilinear", "nearest", "area-up112"):
        assert not get_preset(name).is_random
        assert np.array_equal(degrade(hr, 16, name, seed=0), degrade(hr, 16, name, seed=123))
    assert get_preset("surveillance").is_random


def test_stages_have_independent_streams(hr: np.ndarray) -> None:
    # Changing the JPEG range must not change the noise drawn for an image.
    base = dict(kernel="area", noise_std=(3.0, 6.0))
    a = degrade(hr, 16, Degradation(**base), seed=4)
    b = degrade(hr, 16, Degradation(**base), seed=4, blur_sigma=0.0, jpeg_quality=None)
    assert np.array_equal(a, b)


# --------------------------------------------------------------------------- presets
def test_required_presets_registered() -> None:
    names = list_presets()
    for required in ("area", "bicubic", "bilinear", "nearest", "surveillance", "mild"):
        assert required in names
    assert names == sorted(names) and len(PRESETS) == len(names)


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_runs(hr: np.ndarray, name: str) -> None:
    deg = get_preset(name)
    out = degrade(hr, 16, name, seed=3)
    size = (deg.upsample, deg.upsample) if isinstance(deg.upsample, int) else deg.upsample or (16, 16)
    assert out.shape == (4, *size, 3) and out.dtype == np.uint8
    assert np.array_equal(out, degrade(hr, 16, deg, seed=3))  # name and object agree


def test_surveillance_degrades_more_than_area(hr: np.ndarray) -> None:
    clean = degrade(hr, 16, "area").astype(float)
    noisy = degrade(hr, 16, "surveillance", seed=0).astype(float)
    assert np.abs(noisy - clean).mean() > 1.0


def test_overrides_replace_preset_fields(hr: np.ndarray) -> None:
    a = degrade(hr, 16, "surveillance", seed=0, noise_std=0.0, blur_sigma=0.0, jpeg_quality=None)
    assert np.array_equal(a, degrade(hr, 16, "area"))


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(res=0), "res"),
        (dict(res=-3), "res"),
        (dict(res=(16, 0)), "res"),
        (dict(res=(16,)), "res"),
        (dict(res=16.5), "res"),
        (dict(res=16, preset="bicubc"), "bicubic"),
        (dict(res=16, preset=3), "preset"),
        (dict(res=16, kernel="lanczos"), "area, bicubic, bilinear, nearest"),
        (dict(res=16, upsample_kernel="box"), "valid"),
        (dict(res=16, noise_std=-1.0), "noise_std"),
        (dict(res=16, blur_sigma=(2.0, 1.0)), "blur_sigma"),
        (dict(res=16, jpeg_quality=0), "jpeg_quality"),
        (dict(res=16, jpeg_quality=(50.5, 60)), "jpeg_quality"),
        (dict(res=16, upsample=0), "upsample"),
        (dict(res=16, sharpen=True), "unknown degradation field"),
        (dict(res=16, indices=[0, 1]), "indices"),
        (dict(res=16, seed=-1), "seed"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_bad_arguments_raise_value_error(hr: np.ndarray, kwargs: dict, match: str) -> None:
    kwargs = dict(kwargs)
    res = kwargs.pop("res")
    preset = kwargs.pop("preset", None)
    with pytest.raises(ValueError, match=match):
        degrade(hr[0], res, preset, **kwargs)


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((16, 16, 3), np.float32),
        np.zeros((16, 16), np.uint8),
        np.zeros((16, 16, 4), np.uint8),
        np.zeros((2, 3, 16, 16), np.uint8),
        np.zeros((1, 1, 16, 16, 3), np.uint8),
        np.zeros((0, 16, 3), np.uint8),
        [[0, 0, 0]],
        None,
    ],
    ids=["float", "grey", "rgba", "nchw", "5d", "zero-height", "list", "none"],
)
def test_bad_images_raise_value_error(images: object) -> None:
    with pytest.raises(ValueError):
        degrade(images, 16)


def test_unknown_preset_message_lists_choices() -> None:
    with pytest.raises(ValueError) as e:
        get_preset("cctv")
    assert "surveillance" in str(e.value)


# --------------------------------------------------------------------------- torch
def test_torch_round_trip(hr: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    ref = degrade(hr, 16, "surveillance", seed=9)
    nchw = torch.from_numpy(hr).permute(0, 3, 1, 2)
    out = degrade(nchw, 16, "surveillance", seed=9)
    assert out.dtype == torch.uint8 and tuple(out.shape) == (4, 3, 16, 16)
    assert np.array_equal(out.permute(0, 2, 3, 1).numpy(), ref)

    unit = nchw.float() / 255.0  # [0, 1] floats come back as [0, 1] floats
    out = degrade(unit, 16, "surveillance", seed=9)
    assert out.dtype == torch.float32 and float(out.max()) <= 1.0
    assert np.array_equal(np.rint(out.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8), ref)

    levels = nchw[0].double()  # 0-255 floats, single CHW image
    out = degrade(levels, (16, 12), "area")
    assert out.dtype == torch.float64 and tuple(out.shape) == (3, 16, 12)
    assert np.array_equal(out.permute(1, 2, 0).numpy().astype(np.uint8), degrade(hr[0], (16, 12), "area"))

    with pytest.raises(ValueError):
        degrade(torch.zeros(2, 4, 16, 16), 8)


# --------------------------------------------------------------------------- fast paths
def _numpy_rng(seed: int, key: int, stage: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key, stage)))


@pytest.mark.parametrize("seed", [0, 1234, 2**32 - 1, 2**32 + 5, 2**100 + 3])
@pytest.mark.parametrize("n", [61, 6])  # vectorised path, and small batches (numpy Generators)
def test_batched_streams_equal_numpy_generators(seed: int, n: int) -> None:
    from lrface.face._streams import Streams

    keys = np.concatenate([np.arange(20), np.random.default_rng(seed % 97).integers(0, 2**32, 40), [2**33 + 1]])
    keys = keys[-n:]
    for stage in range(3):
        s = Streams(seed, keys, stage)
        u = s.uniform(0.5, 2.5)
        v = s.uniform(2, 8)
        normals = s.generator(5).standard_normal((3, 4))
        q = s.integers(30, 81)
        for i, k in enumerate(keys):
            g = _numpy_rng(seed, int(k), stage)
            assert g.uniform(0.5, 2.5) == u[i] and g.uniform(2, 8) == v[i]
            if i == 5:
                assert np.array_equal(g.standard_normal((3, 4)), normals)
            else:
                assert g.integers(30, 81) == q[i]


@pytest.mark.parametrize("low,high", [(30, 81), (1, 101), (7, 8), (0, 3 * 2**30 + 1)])
def test_batched_integers_equal_numpy_including_rejections(low: int, high: int) -> None:
    from lrface.face._streams import Streams

    keys = np.arange(400)  # the last range rejects ~25% of first draws: exercises the fallback
    q = Streams(3, keys, 2).integers(low, high)
    assert all(_numpy_rng(3, int(k), 2).integers(low, high) == q[i] for i, k in enumerate(keys))


@pytest.mark.parametrize("n", [1, 5, 16, 17, 112])
def test_batched_blur_matrices_equal_reference_bits(n: int) -> None:
    from lrface.face._resample import GaussTaps, blur_resample, gauss_matrix, resample_matrix

    sig = np.concatenate([np.random.default_rng(n).uniform(0.1, 3.0, 30), [0.0, 0.33, 1.0, 2.5, 6.0]])
    taps = GaussTaps(sig)
    for kernel, out in (("area", 4), ("bicubic", 7)):
        got = blur_resample(n, out, kernel, True, sig, taps, slice(0, len(sig)))
        r = resample_matrix(n, out, kernel, True)
        for i, s in enumerate(sig):
            ref = r @ gauss_matrix(n, float(s)) if s > 0 else r
            assert np.array_equal(got[i], ref), (kernel, float(s))


@pytest.mark.parametrize("preset,res", [("surveillance", 16), ("mild", (14, 11)), ("surveillance", 32)])
def test_big_batch_equals_single_images(preset: str, res: object) -> None:
    # 27 images: batch-wise streams and several chunks, against one call per image (numpy's
    # own Generators, one-image matrices): the same bits.
    x = np.tile(_face_like(3, seed=7), (9, 1, 1, 1))
    idx = np.arange(27) * 13 + 5
    full = degrade(x, res, preset, seed=21, indices=idx)
    for i in range(len(x)):
        assert np.array_equal(degrade(x[i], res, preset, seed=21, indices=int(idx[i])), full[i])


def test_blas_threads_setting_does_not_change_output(hr: np.ndarray) -> None:
    from lrface.face.degrade import blas_threads
    from lrface.face._resample import current_blas_threads

    ref = degrade(hr, 24, "surveillance", seed=8)
    assert current_blas_threads() == 1
    for n in (None, 2):
        with blas_threads(n):
            assert current_blas_threads() == n
            assert np.array_equal(degrade(hr, 24, "surveillance", seed=8), ref)
    assert current_blas_threads() == 1
    with pytest.raises(ValueError, match="threads"):
        with blas_threads(0):
            pass


# --------------------------------------------------------------------------- golden values
def _load_golden_module():
    path = Path(__file__).resolve().parent / "golden" / "make_degrade_golden.py"
    spec = importlib.util.spec_from_file_location("make_degrade_golden", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


GOLD = _load_golden_module()
GOLDEN_CASES = GOLD.cases()


@pytest.fixture(scope="module")
def golden() -> dict:
    if not GOLD.GOLDEN.exists():
        pytest.fail(f"golden file {GOLD.GOLDEN} is missing; regenerate it on purpose with "
                    "`python tests/golden/make_degrade_golden.py`")
    with np.load(GOLD.GOLDEN) as g:
        return {k: g[k] for k in g.files}


@pytest.fixture(scope="module")
def golden_input() -> np.ndarray:
    return GOLD.golden_input()


def test_golden_input_and_cases_unchanged(golden: dict, golden_input: np.ndarray) -> None:
    assert str(golden["input_sha256"]) == hashlib.sha256(golden_input.tobytes()).hexdigest()
    stored = sorted(k.split(":", 1)[1] for k in golden if k.startswith("sha256:"))
    # a new (or removed) preset must come with a deliberate regeneration
    assert stored == sorted(name for name, _, _ in GOLDEN_CASES)
    assert {p for _, p, _ in GOLDEN_CASES} == set(list_presets())


@pytest.mark.parametrize("name,preset,kwargs", GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden_output(golden: dict, golden_input: np.ndarray, name: str, preset: str, kwargs: dict) -> None:
    if f"sha256:{name}" not in golden:
        pytest.fail(f"golden case {name} missing from {GOLD.GOLDEN.name}; regenerate on purpose")
    out = GOLD.run_case(golden_input, preset, kwargs)
    assert out.shape == tuple(golden[f"shape:{name}"])
    view, want = GOLD.stored_view(name, out), golden[f"out:{name}"]
    diff = np.abs(view.astype(np.int64) - want.astype(np.int64))
    assert diff.max() == 0, f"{name}: {int((diff > 0).sum())} stored values differ (max {diff.max()})"
    assert GOLD.sha256(out) == str(golden[f"sha256:{name}"]), f"{name}: output bytes changed"
    # the same images one at a time (other batch composition) give the same bytes
    if name.endswith("/r16"):
        for i, k in enumerate(GOLD.INDICES):
            one = degrade(golden_input[i], preset=preset, seed=GOLD.SEED, indices=k, **kwargs)
            assert np.array_equal(one, out[i])


def test_limited_blas_caps_threads_and_restores() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from lrface.face._resample import limited_blas

    ctl = threadpoolctl.ThreadpoolController().select(user_api="blas")
    with ctl.limit(limits=2):
        before = [lib.num_threads for lib in ctl.lib_controllers]
        with limited_blas():
            inside = [lib.num_threads for lib in ctl.lib_controllers]
        assert [lib.num_threads for lib in ctl.lib_controllers] == before
    assert all(n == 1 for n in inside)
