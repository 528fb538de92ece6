"""Tests of lrface.face.io: one reader for every source, clear errors, atomic writes."""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path
from typing import Any, Callable, Tuple

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from lrface.errors import ImageReadError
from lrface.face import io as lio
from lrface.face.io import IMAGE_SUFFIXES, is_image_file, read_image, to_rgb_uint8, write_image

RED = [255, 0, 0]


def _red(h: int = 6, w: int = 8) -> np.ndarray:
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = 255
    return a


def _encode(im: Image.Image, fmt: str, **kw: Any) -> bytes:
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def _noise_image(size: int = 64, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _png_header_only(width: int, height: int) -> bytes:
    """A syntactically valid PNG claiming a huge size (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b""))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def _assert_red(img: np.ndarray, shape: Tuple[int, int] = (6, 8)) -> None:
    assert img.dtype == np.uint8 and img.shape == (*shape, 3) and img.flags.c_contiguous
    assert (img.reshape(-1, 3) == RED).all(), img.reshape(-1, 3)[:3]


# --------------------------------------------------------------------------- sources
def test_every_source_type_gives_rgb(tmp_path: Path) -> None:
    pil = Image.fromarray(_red())
    png = _encode(pil, "PNG")
    f = tmp_path / "red.png"
    f.write_bytes(png)
    _assert_red(read_image(f))
    _assert_red(read_image(str(f)))
    _assert_red(read_image(png))
    _assert_red(read_image(bytearray(png)))
    _assert_red(read_image(memoryview(png)))
    _assert_red(read_image(io.BytesIO(png)))
    with open(f, "rb") as fh:
        _assert_red(read_image(fh))
    _assert_red(read_image(pil))
    _assert_red(read_image(_red()))


def test_torch_sources_chw_and_hwc() -> None:
    torch = pytest.importorskip("torch")
    hwc = torch.from_numpy(_red())
    _assert_red(read_image(hwc))
    _assert_red(read_image(hwc.permute(2, 0, 1)))  # CHW
    _assert_red(read_image(hwc.permute(2, 0, 1).float() / 255.0))  # float [0, 1]
    _assert_red(to_rgb_uint8(hwc.permute(2, 0, 1).half() / 255.0))
    grey = read_image(torch.full((1, 5, 7), 0.5))
    assert grey.shape == (5, 7, 3) and (grey == 128).all()


def test_cv2_written_file_reads_as_rgb(tmp_path: Path) -> None:
    # cv2 stores BGR arrays; a file written from BGR [0, 0, 255] is red on disk and must
    # come back as RGB red. Catches a reader that returns BGR.
    bgr = np.zeros((6, 8, 3), np.uint8)
    bgr[..., 2] = 255
    for suffix in (".png", ".bmp", ".ppm", ".tiff"):
        p = tmp_path / f"cv2{suffix}"
        assert cv2.imwrite(str(p), bgr)
        _assert_red(read_image(p))


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("BMP", ".bmp"), ("PPM", ".ppm"), ("TIFF", ".tif"),
                                        ("WEBP", ".webp"), ("GIF", ".gif")])
def test_lossless_formats(tmp_path: Path, fmt: str, suffix: str) -> None:
    if fmt == "WEBP":
        pytest.importorskip("PIL.WebPImagePlugin")
        kw: dict = {"lossless": True}
    else:
        kw = {}
    p = tmp_path / f"red{suffix}"
    Image.fromarray(_red()).save(p, fmt, **kw)
    _assert_red(read_image(p))


def test_jpeg_red_stays_red(tmp_path: Path) -> None:
    p = tmp_path / "red.jpg"
    Image.fromarray(_red(16, 16)).save(p, quality=95)
    img = read_image(p).astype(int)
    assert img.shape == (16, 16, 3)
    assert (img[..., 0] > 240).all() and (img[..., 1:] < 15).all()


# --------------------------------------------------------------------------- modes
def test_16bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    x = np.array([[65535, 32896, 0, 257, 128]], np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(x).save(p)
    with Image.open(p) as im:
        assert im.mode.startswith("I")
    img = read_image(p)
    assert img.shape == (1, 5, 3)
    assert img[0, :, 0].tolist() == [255, 128, 0, 1, 0]
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()


def test_uint16_array_scaling() -> None:
    x = np.array([[65535, 32896, 0, 385]], np.uint16)  # 385 / 257 = 1.498 -> 1
    assert to_rgb_uint8(x)[0, :, 0].tolist() == [255, 128, 0, 1]


def test_32bit_int_mode_i(tmp_path: Path) -> None:
    im = Image.fromarray(np.array([[65535, 0, 32896]], np.int32), mode="I")
    p = tmp_path / "i32.tif"
    im.save(p)
    assert read_image(p)[0, :, 0].tolist() == [255, 0, 128]


def test_rgba_composited_on_black(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = [200, 100, 50, 255]  # opaque: unchanged
    rgba[0, 1] = [200, 100, 50, 128]  # half: scaled by 128/255
    rgba[1, 0] = [255, 255, 255, 0]  # transparent white: black
    p = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(p)
    for src in (p, rgba, Image.fromarray(rgba, "RGBA")):
        img = read_image(src)
        assert img[0, 0].tolist() == [200, 100, 50]
        assert img[0, 1].tolist() == [100, 50, 25]
        assert img[1, 0].tolist() == [0, 0, 0]


def test_la_mode(tmp_path: Path) -> None:
    la = Image.new("LA", (3, 1), (100, 255))
    la.putpixel((1, 0), (100, 0))
    p = tmp_path / "la.png"
    la.save(p)
    assert read_image(p)[0, :, 0].tolist() == [100, 0, 100]


def test_palette_with_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (4, 2), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * (254 * 3))
    for x in range(4):
        im.putpixel((x, 1), 1)
    p = tmp_path / "pal.png"
    im.save(p, transparency=1)
    img = read_image(p)
    assert (img[0] == RED).all()
    assert (img[1] == 0).all()  # transparent green -> black
    # the same palette without transparency keeps its colours
    p2 = tmp_path / "pal_opaque.png"
    im.save(p2)
    assert (read_image(p2)[1] == [0, 255, 0]).all()


def test_grey_bilevel_cmyk_float_modes(tmp_path: Path) -> None:
    grey = tmp_path / "g.png"
    Image.new("L", (3, 2), 77).save(grey)
    assert (read_image(grey) == 77).all() and read_image(grey).shape == (2, 3, 3)

    bilevel = Image.new("1", (4, 1), 0)
    bilevel.putpixel((2, 0), 1)
    p1 = tmp_path / "b.png"
    bilevel.save(p1)
    assert read_image(p1)[0, :, 1].tolist() == [0, 0, 255, 0]

    cmyk = tmp_path / "c.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(cmyk, quality=95)  # red in CMYK
    img = read_image(cmyk).astype(int)
    assert (img[..., 0] > 230).all() and (img[..., 1:] < 25).all()

    f = tmp_path / "f.tif"
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), "F").save(f)
    assert read_image(f)[0, :, 0].tolist() == [0, 128, 255]


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (5, 5), c) for c in ((255, 0, 0), (0, 0, 255))]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(p) as im:
        assert im.n_frames == 2
    _assert_red(read_image(p), (5, 5))


def test_exif_orientation_applied(tmp_path: Path) -> None:
    a = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high: left half red, right half blue
    a[:, :20, 0] = 255
    a[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "rot.jpg"
    Image.fromarray(a).save(p, exif=exif.tobytes(), quality=95)
    img = read_image(p).astype(int)
    assert img.shape == (40, 20, 3)
    assert img[:15, :, 0].min() > 200 and img[:15, :, 2].max() < 60  # left half is now on top
    assert img[25:, :, 2].min() > 200 and img[25:, :, 0].max() < 60
    raw = read_image(p, exif_transpose=False)
    assert raw.shape == (20, 40, 3)


def test_array_dtypes() -> None:
    assert (to_rgb_uint8(np.ones((2, 2), bool)) == 255).all()
    assert (to_rgb_uint8(np.full((2, 2, 1), 0.5)) == 128).all()  # float [0, 1]
    assert (to_rgb_uint8(np.full((2, 2, 3), 100.0)) == 100).all()  # float 0-255
    assert (to_rgb_uint8(np.array([[[255, 0, 0]]])) == RED).all()  # int64 within 0..255
    a = _red()
    out = to_rgb_uint8(a)
    out[...] = 0
    assert (a[..., 0] == 255).all()  # never a view of the input


# --------------------------------------------------------------------------- errors
def _bad(tmp_path: Path, kind: str) -> Tuple[Any, dict, str]:
    """(src, kwargs, expected message fragment) for one kind of bad input."""
    good_jpeg = _encode(_noise_image(), "JPEG", quality=90)
    good_png = _encode(_noise_image(), "PNG")
    if kind == "missing-file":
        return tmp_path / "nope.jpg", {}, "no such file"
    if kind == "directory":
        return tmp_path, {}, "directory"
    if kind == "zero-byte-file":
        p = tmp_path / "empty.jpg"
        p.write_bytes(b"")
        return p, {}, "empty"
    if kind == "text-renamed-jpg":
        p = tmp_path / "notes.jpg"
        p.write_text("hello, I am not an image\n" * 20)
        return p, {}, "not a readable image"
    if kind == "truncated-jpeg":
        p = tmp_path / "cut.jpg"
        p.write_bytes(good_jpeg[: len(good_jpeg) * 6 // 10])
        return p, {}, "cut.jpg"
    if kind == "truncated-png":
        p = tmp_path / "cut.png"
        p.write_bytes(good_png[: len(good_png) * 6 // 10])
        return p, {}, "cut.png"
    if kind == "bomb-over-pil-limit":
        p = tmp_path / "bomb.png"
        p.write_bytes(_png_header_only(20000, 20000))
        return p, {"max_pixels": 10**12}, "decompression bomb"
    if kind == "bomb-over-max-pixels":  # 90.25 M pixels: over the default limit
        return _png_header_only(9500, 9500), {}, "decompression bomb"
    if kind == "header-over-max-pixels":  # refused from the header, before any decoding
        return _png_header_only(5000, 5000), {"max_pixels": 10**7}, "max_pixels=10000000"
    if kind == "max-pixels-small":
        return good_png, {"max_pixels": 1000}, "max_pixels=1000"
    if kind == "empty-bytes":
        return b"", {}, "empty"
    if kind == "garbage-bytes":
        return bytes(range(256)) * 4, {}, "not a readable image"
    if kind == "text-mode-file":
        return io.StringIO("abc"), {}, "binary mode"
    if kind == "empty-file-object":
        return io.BytesIO(b""), {}, "empty"
    if kind == "zero-size-array":
        return np.zeros((0, 10, 3), np.uint8), {}, "empty array"
    if kind == "1d-array":
        return np.zeros(10, np.uint8), {}, "shape"
    if kind == "4d-array":
        return np.zeros((1, 4, 4, 3), np.uint8), {}, "shape"
    if kind == "2-channels":
        return np.zeros((4, 4, 2), np.uint8), {}, "shape (4, 4, 2)"
    if kind == "5-channels":
        return np.zeros((4, 4, 5), np.uint8), {}, "shape (4, 4, 5)"
    if kind == "nan-float":
        a = np.zeros((4, 4, 3), np.float32)
        a[1, 1, 1] = np.nan
        return a, {}, "NaN"
    if kind == "inf-float":
        a = np.zeros((4, 4), np.float64)
        a[0, 0] = np.inf
        return a, {}, "inf"
    if kind == "normalised-float":
        return np.full((4, 4, 3), -0.5, np.float32), {}, "normalisation"
    if kind == "int-out-of-range":
        return np.full((4, 4), 1000, np.int32), {}, "0..255"
    if kind == "complex-array":
        return np.zeros((4, 4, 3), np.complex64), {}, "dtype"
    if kind == "object-array":
        return np.empty((4, 4, 3), object), {}, "dtype"
    if kind == "int-source":
        return 42, {}, "unsupported image source of type int"
    if kind == "none-source":
        return None, {}, "NoneType"
    if kind == "bad-tensor":
        torch = pytest.importorskip("torch")
        return torch.zeros(2, 4, 4, 3), {}, "shape"
    raise AssertionError(kind)


BAD_KINDS = [
    "missing-file", "directory", "zero-byte-file", "text-renamed-jpg", "truncated-jpeg",
    "truncated-png", "bomb-over-pil-limit", "bomb-over-max-pixels", "header-over-max-pixels",
    "max-pixels-small",
    "empty-bytes", "garbage-bytes", "text-mode-file", "empty-file-object", "zero-size-array",
    "1d-array", "4d-array", "2-channels", "5-channels", "nan-float", "inf-float",
    "normalised-float", "int-out-of-range", "complex-array", "object-array", "int-source",
    "none-source", "bad-tensor",
]


@pytest.mark.parametrize("kind", BAD_KINDS, ids=BAD_KINDS)
def test_bad_input_raises_image_read_error(tmp_path: Path, kind: str) -> None:
    src, kwargs, fragment = _bad(tmp_path, kind)
    with pytest.raises(ImageReadError) as e:
        read_image(src, **kwargs)
    assert fragment.lower() in str(e.value).lower(), str(e.value)
    assert isinstance(e.value, ValueError)
    if isinstance(src, Path):
        assert str(src) in str(e.value)  # the message names the file


def test_pil_globals_untouched(tmp_path: Path) -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    for kind in ("truncated-jpeg", "bomb-over-max-pixels", "max-pixels-small"):
        src, kwargs, _ = _bad(tmp_path, kind)
        with pytest.raises(ImageReadError):
            read_image(src, **kwargs)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


def test_good_images_still_read_after_errors(tmp_path: Path) -> None:
    p = tmp_path / "ok.png"
    Image.fromarray(_red()).save(p)
    with pytest.raises(ImageReadError):
        read_image(_png_header_only(20000, 20000))
    _assert_red(read_image(p))


# --------------------------------------------------------------------------- suffixes
def test_is_image_file() -> None:
    assert IMAGE_SUFFIXES >= {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff",
                              ".webp", ".gif"}
    for name in ("a.jpg", "B.JPEG", "c/d.Png", "x.tiff", Path("y.webp")):
        assert is_image_file(name)
    for name in ("a.txt", "b", "c.jpg.tmp", "._mac.jpg", "dir/.face.jpg.x1y2.tmp"):
        assert not is_image_file(name)


# --------------------------------------------------------------------------- writing
def _listing(d: Path) -> list:
    return sorted(p.name for p in d.iterdir())


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".jpeg", ".bmp", ".tif"])
def test_write_read_round_trip(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"out{suffix}"
    write_image(p, _red(16, 16))
    img = read_image(p).astype(int)
    tol = 15 if suffix in (".jpg", ".jpeg") else 0
    assert img.shape == (16, 16, 3)
    assert np.abs(img - _red(16, 16)).max() <= tol
    assert _listing(tmp_path) == [p.name]


def test_write_replaces_existing_file_fully(tmp_path: Path) -> None:
    p = tmp_path / "face.png"
    big = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    write_image(p, big)
    size_big = p.stat().st_size
    write_image(p, _red())  # much smaller: no stale tail may remain
    assert p.stat().st_size < size_big
    _assert_red(read_image(p))
    assert _listing(tmp_path) == ["face.png"]


def test_write_creates_parents_and_keeps_mode(tmp_path: Path) -> None:
    p = tmp_path / "a" / "b" / "face.jpg"
    write_image(p, _red())
    assert p.exists()
    assert p.stat().st_mode & 0o777 == 0o666 & ~lio._umask()  # not mkstemp's private 0600
    os.chmod(p, 0o640)
    write_image(p, _red())
    assert p.stat().st_mode & 0o777 == 0o640


def test_write_unsupported_suffix_leaves_old_file(tmp_path: Path) -> None:
    p = tmp_path / "face.png"
    write_image(p, _red())
    before = p.read_bytes()
    with pytest.raises(ValueError, match="suffix"):
        write_image(tmp_path / "face.xyz", _red())
    with pytest.raises(ValueError):
        write_image(p, np.zeros((4, 4, 5), np.uint8))  # unusable image
    assert p.read_bytes() == before
    assert _listing(tmp_path) == ["face.png"]


def test_write_failing_mid_encode_leaves_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "face.png"
    write_image(p, _red())
    before = p.read_bytes()

    real_save: Callable = Image.Image.save

    def broken_save(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        fp.write(b"\x89PNG partial")  # some bytes reach the temp file, then the "crash"
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(p, np.zeros((8, 8, 3), np.uint8))
    monkeypatch.setattr(Image.Image, "save", real_save)
    assert p.read_bytes() == before
    assert _listing(tmp_path) == ["face.png"]  # no temp file left behind


def test_write_bad_quality(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quality"):
        write_image(tmp_path / "a.jpg", _red(), quality=0)


def test_module_has_no_import_side_effects() -> None:
    # Importing must not change PIL's global limits.
    assert lio.Image.MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS
