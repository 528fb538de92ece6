"""More than 20 kinds of bad input through prepare: each gets a status, the run never dies,
and crops written by an earlier run are not lost."""
from __future__ import annotations

import csv
import io
import struct
import zlib
from pathlib import Path
from typing import Callable, Dict, Optional

import cv2
import numpy as np
import pytest
from PIL import Image

from lrface.data.prepare import STATUSES, prepare_dataset
from lrface.data.synthetic import render_scene


def _scene() -> np.ndarray:
    return render_scene(0, 0, seed=0)[0]


def _jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _pil_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def _png_bomb() -> bytes:
    """A syntactically valid PNG header claiming 60000x60000 pixels (3.6 gigapixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


# name -> (bytes factory, expected status or None for "any valid status")
BAD: Dict[str, tuple] = {
    "empty.jpg": (lambda: b"", "unreadable"),
    "text_as.jpg": (lambda: b"hello, I am not a picture\n" * 10, "unreadable"),
    "html_as.jpg": (lambda: b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "unreadable"),
    "truncated.jpg": (lambda: _jpeg(_scene())[: len(_jpeg(_scene())) // 2], "unreadable"),
    "truncated.png": (lambda: _png(_scene())[:300], "unreadable"),
    "random_bytes.png": (lambda: np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(), "unreadable"),
    "jpeg_header_only.jpg": (lambda: _jpeg(_scene())[:20], "unreadable"),
    "pdf_as.webp": (lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "unreadable"),
    "bomb.png": (_png_bomb, "unreadable"),
    "one_pixel.png": (lambda: _png(np.zeros((1, 1, 3), np.uint8)), "no_face"),
    "four_pixels.png": (lambda: _png(np.full((4, 4, 3), 128, np.uint8)), "no_face"),
    "blank_white.jpg": (lambda: _jpeg(np.full((200, 200, 3), 255, np.uint8)), "no_face"),
    "black.png": (lambda: _png(np.zeros((150, 150, 3), np.uint8)), "no_face"),
    "sliver.png": (lambda: _png(np.full((8, 3000, 3), 90, np.uint8)), "no_face"),
    "gray16.png": (lambda: _pil_bytes(Image.fromarray((cv2.cvtColor(_scene(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)), "PNG"), None),
    "rgba.png": (lambda: _pil_bytes(Image.fromarray(_scene()).convert("RGBA"), "PNG"), None),
    "palette.png": (lambda: _pil_bytes(Image.fromarray(_scene()).convert("P"), "PNG"), None),
    "cmyk.jpg": (lambda: _pil_bytes(Image.fromarray(_scene()).convert("CMYK"), "JPEG"), None),
    "gray.jpg": (lambda: _pil_bytes(Image.fromarray(_scene()).convert("L"), "JPEG"), None),
    "bilevel.png": (lambda: _pil_bytes(Image.fromarray(_scene()).convert("1"), "PNG"), None),
    "animated.gif": (lambda: _pil_bytes(Image.fromarray(_scene()), "GIF", save_all=True,
                                        append_images=[Image.fromarray(_scene()[::-1])]), None),
    "UPPER CASE ünïcode.JPG": (lambda: _jpeg(_scene()), None),
}


def _build(root: Path) -> None:
    ident = root / "person_a"
    ident.mkdir(parents=True, exist_ok=True)
    for name, (make, _) in BAD.items():
        (ident / name).write_bytes(make())
    (ident / "broken_link.jpg").symlink_to(root / "does_not_exist.jpg")
    (ident / "folder.jpg").mkdir()  # a directory with an image suffix: counted as skipped, not a crash
    (ident / "notes.txt").write_text("not an image")  # not an image by content: an unreadable row
    (ident / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # hidden: an unreadable row
    (ident / "no_suffix").write_bytes(_jpeg(_scene()))  # a JPEG without a suffix: processed


def test_every_bad_input_gets_a_status_and_nothing_is_lost(tmp_path: Path, mtcnn_weights):
    assert len(BAD) + 4 >= 20
    src, dst = tmp_path / "src", tmp_path / "dst"
    good = src / "person_b"
    good.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(render_scene(1, i, seed=0)[0]).save(good / f"good_{i}.jpg", quality=95)
    first = prepare_dataset(src, dst, workers=1, progress=False)
    kept = {p: p.read_bytes() for p in dst.rglob("*.jpg")}
    rows_before = {r["source"]: r for r in csv.DictReader(open(dst / "manifest.csv"))}
    assert first.total == 3

    _build(src)
    summary = prepare_dataset(src, dst, workers=2, progress=False)  # the pool path too
    rows = {r["source"]: r for r in csv.DictReader(open(dst / "manifest.csv"))}

    expected_rows = len(BAD) + 4 + 3  # + broken link, notes, .DS_Store, no_suffix + the 3 good ones
    assert summary.total == expected_rows == len(rows)
    assert summary.processed == len(BAD) + 4
    assert summary.not_images == 2
    assert summary.skipped == {"sub-folders inside identity folders": 1}
    for name, (_, want) in BAD.items():
        r = rows[f"person_a/{name}"]
        assert r["status"] in STATUSES, (name, r)
        if want is not None:
            assert r["status"] == want, (name, r)
        if r["status"] == "unreadable":
            assert r["message"], f"{name}: unreadable rows must say why"
        if r["status"] == "ok":
            assert (dst / r["output"]).is_file()
    assert rows["person_a/broken_link.jpg"]["status"] == "unreadable"
    for name in ("notes.txt", ".DS_Store"):
        r = rows[f"person_a/{name}"]
        assert r["status"] == "unreadable" and r["message"].startswith("not an image file"), r
    assert rows["person_a/no_suffix"]["status"] in STATUSES
    assert not rows["person_a/no_suffix"]["message"].startswith("not an image file")
    assert "folder.jpg" not in str(rows)
    # The earlier run's work is intact.
    for src_key, r in rows_before.items():
        assert rows[src_key] == r
    for p, data in kept.items():
        assert p.read_bytes() == data
    assert not [p for p in dst.rglob("*") if ".tmp" in p.name]
