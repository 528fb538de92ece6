"""Alignment: known landmarks land on the template within 0.5 px."""
from __future__ import annotations

import numpy as np
import pytest

from lrface.face.align import (
    ARCFACE_TEMPLATE_112,
    ARCFACE_TEMPLATE_112x96,
    align,
    align_batch,
    estimate_alignment,
    similarity_transform,
    template_for,
    transform_points,
)


def _random_similarity(rng: np.random.Generator) -> np.ndarray:
    ang = rng.uniform(-np.pi / 3, np.pi / 3)
    s = rng.uniform(0.3, 3.0)
    t = rng.uniform(-50, 150, size=2)
    r = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    return np.hstack([r, t[:, None]])


def test_template_values_are_the_standard_arcface_points():
    assert ARCFACE_TEMPLATE_112[0] == pytest.approx([38.2946, 51.6963])
    assert ARCFACE_TEMPLATE_112[4] == pytest.approx([70.7299, 92.2041])
    np.testing.assert_allclose(ARCFACE_TEMPLATE_112x96[:, 0], ARCFACE_TEMPLATE_112[:, 0] - 8)
    np.testing.assert_allclose(template_for((112, 96)), ARCFACE_TEMPLATE_112x96)
    np.testing.assert_allclose(template_for(224), ARCFACE_TEMPLATE_112 * 2)


@pytest.mark.parametrize("size", [112, (112, 96)])
def test_similarity_recovers_exact_transform(size):
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = _random_similarity(rng)
        inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
        src = transform_points(template_for(size), inv)  # landmarks in a "photo"
        est = estimate_alignment(src, size)
        np.testing.assert_allclose(transform_points(src, est), template_for(size), atol=1e-6)


def test_noisy_landmarks_are_least_squares_fit():
    rng = np.random.default_rng(1)
    src = ARCFACE_TEMPLATE_112 * 1.7 + 20 + rng.normal(0, 1.0, (5, 2))
    m = similarity_transform(src, ARCFACE_TEMPLATE_112)
    resid = np.linalg.norm(transform_points(src, m) - ARCFACE_TEMPLATE_112, axis=1)
    # Perturbing the solution can only increase the squared residual.
    for d in np.eye(6)[:, :] * 1e-3:
        m2 = m + d.reshape(2, 3)
        resid2 = np.linalg.norm(transform_points(src, m2) - ARCFACE_TEMPLATE_112, axis=1)
        assert (resid2**2).sum() >= (resid**2).sum() - 1e-9


def _dot_image(points: np.ndarray, shape=(300, 300)) -> np.ndarray:
    """Black image with a small bright Gaussian blob at each landmark (sub-pixel exact)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    img = np.zeros(shape)
    for x, y in points:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.5**2))
    img = (255 * img / img.max()).astype(np.uint8)
    return np.repeat(img[:, :, None], 3, axis=2)


def _blob_centres(img: np.ndarray, template: np.ndarray) -> np.ndarray:
    g = img[:, :, 0].astype(np.float64)
    yy, xx = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
    out = []
    for tx, ty in template:
        win = (np.abs(xx - tx) < 7) & (np.abs(yy - ty) < 7)
        w = g * win
        out.append([(w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()])
    return np.array(out)


@pytest.mark.parametrize("size", [112, (112, 96)])
def test_warped_landmarks_land_on_template_within_half_pixel(size):
    """End to end through the pixel warp: blobs drawn at the landmarks end up on the template."""
    rng = np.random.default_rng(2)
    tpl = template_for(size)
    for _ in range(5):
        m = _random_similarity(rng)
        m[:, :2] /= np.sqrt(abs(np.linalg.det(m[:, :2])))  # scale 1..: keep blobs well sampled
        m[:, :2] *= rng.uniform(1.2, 2.0)
        inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
        pts = transform_points(tpl, inv)
        pts += 150 - pts.mean(0)  # keep inside the photo
        crop = align(_dot_image(pts), pts, size)
        assert crop.shape == ((112, 112, 3) if size == 112 else (112, 96, 3))
        assert crop.dtype == np.uint8
        err = np.linalg.norm(_blob_centres(crop, tpl) - tpl, axis=1)
        assert err.max() < 0.5, err


def test_align_batch_and_errors():
    img = np.zeros((200, 200, 3), np.uint8)
    lms = [ARCFACE_TEMPLATE_112 + 30, ARCFACE_TEMPLATE_112 * 1.5]
    assert align_batch([img, img], lms).shape == (2, 112, 112, 3)
    with pytest.raises(ValueError, match="5 landmarks"):
        align(img, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="coincide"):
        align(img, np.ones((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        align(img, np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="uint8 RGB"):
        align(img[:, :, 0], lms[0])
    with pytest.raises(ValueError, match="2 images but 1"):
        align_batch([img, img], lms[:1])


# --------------------------------------------------------------------------- dlib's chip geometry


def test_dlib_chip_points_and_the_arcface_to_chip_map():
    from lrface.face.align import ARCFACE_TO_DLIB_CHIP, DLIB_CHIP_SIZE, dlib_chip_points, frame_to_geometry

    pts = dlib_chip_points()
    # dlib's unit template mapped with padding 0.25 at 150 px: about 52 px between the eyes
    eyes = (pts[0] + pts[1]) / 2, (pts[2] + pts[3]) / 2
    assert 50 < np.linalg.norm(eyes[0] - eyes[1]) < 54
    np.testing.assert_allclose(frame_to_geometry("dlib_chip", 112, DLIB_CHIP_SIZE), ARCFACE_TO_DLIB_CHIP)
    # the same frame sampled at 16 px maps its pixel centres onto the same chip points
    m16 = frame_to_geometry("dlib_chip", 16, 150)
    x112 = np.array([38.0, 51.0])
    x16 = (x112 + 0.5) * 16 / 112 - 0.5
    np.testing.assert_allclose(m16[:, :2] @ x16 + m16[:, 2], ARCFACE_TO_DLIB_CHIP[:, :2] @ x112 + ARCFACE_TO_DLIB_CHIP[:, 2],
                               atol=1e-9)
    assert np.allclose(frame_to_geometry("arcface", 112, 112), np.eye(3)[:2])
    with pytest.raises(ValueError, match="geometry"):
        frame_to_geometry("square", 112, 112)


def test_align_onto_the_chip_equals_align_then_fixed_warp():
    from lrface.face.align import ARCFACE_TEMPLATE_112, align, frame_to_geometry
    from lrface.face.align import transform_points

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)
    lm = ARCFACE_TEMPLATE_112 * 1.7 + np.array([60.0, 40.0])
    chip = align(img, lm, size=150, geometry="dlib_chip")
    assert chip.shape == (150, 150, 3)
    # the landmarks land where the fixed map sends the ArcFace template
    from lrface.face.align import estimate_alignment

    m = np.vstack([frame_to_geometry("dlib_chip", 112, 150), [0, 0, 1]]) @ np.vstack([estimate_alignment(lm, 112), [0, 0, 1]])
    np.testing.assert_allclose(transform_points(lm, m[:2]), transform_points(ARCFACE_TEMPLATE_112,
                                                                              frame_to_geometry("dlib_chip", 112, 150)),
                               atol=1e-6)


def test_chip_views_of_lr_faces_and_of_photos():
    from lrface.face.align import ARCFACE_TEMPLATE_112
    from lrface.models.inputs import CHIP_FILL, chip_view, model_view, photo_chip
    from lrface.models.base import ModelCfg

    rng = np.random.default_rng(1)
    faces = rng.integers(0, 255, (3, 112, 112, 3), dtype=np.uint8)
    v = chip_view(faces, (150, 150))  # full-resolution frames: cut at dlib's landmarks, edge repeated
    assert v.shape == (3, 150, 150, 3)
    assert not (v[:, -3:] == CHIP_FILL).all()
    lr = chip_view(faces[:, ::7, ::7].copy(), (150, 150))  # a 16 px copy of the frame: the fixed map
    assert lr.shape == (3, 150, 150, 3)
    # the chip's bottom row lies below the frame: gray fill (bicubic blends in a little of the edge)
    assert np.abs(lr[:, -1].astype(int) - CHIP_FILL).max() <= 8
    cfg = ModelCfg(input_size=(150, 150), template="dlib_chip")
    # a chip model never takes a 150 px input as its own view: it is an ArcFace frame, warped
    big = rng.integers(0, 255, (1, 150, 150, 3), dtype=np.uint8)
    assert not np.array_equal(model_view(big, cfg), big)
    photo = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)
    c = photo_chip(photo, ARCFACE_TEMPLATE_112 * 2 + 50, (150, 150))
    assert c.shape == (1, 150, 150, 3)
