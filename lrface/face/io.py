"""One image reader (and an atomic writer) for everything lrface accepts as an image.

:func:`read_image` turns a path, encoded bytes, a file object, a PIL image, a numpy array
or a torch tensor into one canonical form: an HxWx3 ``uint8`` array in **RGB** channel
order. Every failure (missing, empty, truncated, not an image, absurd size, unusable
array) raises :class:`lrface.errors.ImageReadError` naming the source, so a dataset scan
can log and skip bad files instead of crashing or, worse, silently training on garbage.

Decoding uses PIL, restricted to the formats of :data:`IMAGE_SUFFIXES`. PIL reads the
header lazily, so the size is checked before any pixel is decoded (decompression bombs),
and a full ``load()`` is forced so truncated files fail here rather than later. No PIL
global (``MAX_IMAGE_PIXELS``, ``LOAD_TRUNCATED_IMAGES``) is changed.

Conventions:

* Alpha (RGBA, LA, palette with transparency, HxWx4 arrays) is composited onto black,
  ``rgb * alpha / 255``, so fully transparent pixels are black whatever colour they hide
  (the same black that :func:`lrface.face.align.align` uses for borders).
* 16-bit data (uint16 arrays, ``I;16`` / ``I`` PNG and TIFF) is scaled by 1/257 with
  rounding (65535 -> 255), not clipped.
* Float arrays: values in [0, 1] when the max is <= 1, otherwise taken as 0-255.

Example:
    >>> import numpy as np
    >>> read_image(np.zeros((4, 5), np.uint8)).shape
    (4, 5, 3)
"""
from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Union

import numpy as np
from PIL import Image, ImageOps

from lrface.errors import ImageReadError

logger = logging.getLogger(__name__)

#: File name suffixes (lower case) treated as images by :func:`is_image_file`.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".pbm", ".tif", ".tiff", ".webp", ".gif"}
)
# PIL format names for those suffixes; MPO is how PIL labels many camera JPEGs. Limiting the
# decoders also keeps exotic, rarely audited PIL plugins away from untrusted files.
_PIL_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "PPM", "TIFF", "WEBP", "GIF")
_WRITE_FORMATS = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
}

PathLike = Union[str, "os.PathLike[str]"]


def is_image_file(path: PathLike) -> bool:
    """True when ``path``'s suffix is in :data:`IMAGE_SUFFIXES` (case-insensitive).

    Looks at the name only (no I/O). macOS AppleDouble companions (``._photo.jpg``) are
    not images and return False.

    Example:
        >>> is_image_file("a/b/Face.JPG"), is_image_file("notes.txt")
        (True, False)
    """
    p = Path(path)
    return p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("._")


# --------------------------------------------------------------------------- arrays
def _composite_on_black(rgba: np.ndarray) -> np.ndarray:
    rgb = rgba[..., :3].astype(np.uint32)
    a = rgba[..., 3:4].astype(np.uint32)
    return ((rgb * a + 127) // 255).astype(np.uint8)  # rounded rgb * a / 255


def _array_to_rgb(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise ImageReadError(
            f"{name}: unsupported array dtype {arr.dtype} (use uint8, uint16, bool or float)"
        )
    if arr.size == 0:
        raise ImageReadError(f"{name}: empty array of shape {arr.shape}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageReadError(
            f"{name}: expected an HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA) array, got shape {arr.shape}"
        )
    kind = arr.dtype.kind
    if kind == "b":
        out = arr.astype(np.uint8) * np.uint8(255)
    elif arr.dtype == np.uint8:
        out = arr.copy()  # never alias the caller's buffer
    elif arr.dtype == np.uint16:
        out = ((arr.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)  # round(x / 257)
    elif kind in "iu":
        # Other integer types (e.g. int64 from np.array of Python ints) are accepted as 8-bit
        # when they fit; anything else is ambiguous, so refuse rather than guess.
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ImageReadError(
                f"{name}: {arr.dtype} values span [{lo}, {hi}]; integer images must lie in 0..255 "
                "(pass uint16 for 16-bit data)"
            )
        out = arr.astype(np.uint8)
    else:
        f = arr.astype(np.float64)
        if not np.isfinite(f).all():
            raise ImageReadError(f"{name}: float image contains NaN or inf")
        lo, hi = float(f.min()), float(f.max())
        if lo < -1e-6 or hi > 255.0 + 1e-6:
            raise ImageReadError(
                f"{name}: float values span [{lo:.4g}, {hi:.4g}]; expected [0, 1] or [0, 255] "
                "(undo any mean/std normalisation first)"
            )
        out = np.clip(np.rint(f * 255.0 if hi <= 1.0 else f), 0, 255).astype(np.uint8)
    c = out.shape[2]
    if c == 1:
        out = np.repeat(out, 3, axis=2)
    elif c == 4:
        out = _composite_on_black(out)
    return np.ascontiguousarray(out)


def to_rgb_uint8(array_or_tensor: Any, *, name: str = "<array>") -> np.ndarray:
    """Convert a numpy array or torch tensor holding one image to HxWx3 uint8 RGB.

    Args:
        array_or_tensor: numpy array of shape HxW (grey), HxWx1, HxWx3 (taken as RGB) or
            HxWx4 (RGBA, composited on black); dtype uint8, uint16 (scaled by 1/257),
            bool, other integers within 0..255, or float (max <= 1: [0, 1], else 0-255).
            A torch tensor is read as CHW when ``dim0`` is 1, 3 or 4 and the last dim is
            not, else as HWC; uint8 or float like arrays.
        name: how the source is named in error messages.

    Returns:
        A new C-contiguous HxWx3 uint8 RGB array (never a view of the input).

    Raises:
        ImageReadError: empty, wrong shape or channel count, NaN/inf, out-of-range values
            or an unsupported dtype.

    Example:
        >>> import numpy as np
        >>> to_rgb_uint8(np.ones((2, 2), np.float32))[0, 0].tolist()
        [255, 255, 255]
    """
    torch = sys.modules.get("torch")  # no torch import unless the caller already has it
    if torch is not None and isinstance(array_or_tensor, torch.Tensor):
        t = array_or_tensor.detach().cpu()
        if t.ndim == 3 and t.shape[0] in (1, 3, 4) and t.shape[-1] not in (1, 3, 4):
            t = t.permute(1, 2, 0)
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()  # numpy has no bfloat16
        try:
            arr = t.numpy()
        except (TypeError, RuntimeError) as e:
            raise ImageReadError(f"{name}: unsupported tensor dtype {t.dtype}: {e}") from None
        return _array_to_rgb(arr, name)
    if isinstance(array_or_tensor, np.ndarray):
        return _array_to_rgb(array_or_tensor, name)
    raise ImageReadError(
        f"{name}: expected a numpy array or torch tensor, got {type(array_or_tensor).__name__}"
    )


# --------------------------------------------------------------------------- PIL
def _pil_to_rgb(im: Image.Image, name: str) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey (PNG/TIFF): scale to 8-bit instead of clipping at 255.
        arr = np.asarray(im).astype(np.int64)
        return _array_to_rgb(np.clip(arr, 0, 65535).astype(np.uint16), name)
    if mode in ("F", "1"):
        return _array_to_rgb(np.asarray(im), name)  # float rules / bool -> 0 or 255
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info)
    if has_alpha:
        return _composite_on_black(np.asarray(im.convert("RGBA")))
    return np.array(im.convert("RGB"), dtype=np.uint8)  # L, P, CMYK, YCbCr, ...


def _exif_transpose(im: Image.Image, name: str) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except Exception as e:  # malformed EXIF should not make a good image unreadable
        logger.warning("%s: ignoring unreadable EXIF orientation (%s)", name, e)
        return im


def _decode(fp: Any, name: str, max_pixels: int, exif_transpose: bool) -> np.ndarray:
    Image.init()  # registers plugins; cheap after the first call
    formats = [f for f in _PIL_FORMATS if f in Image.OPEN]
    try:
        # Turn PIL's bomb warning into an error locally (PIL's global limit is left alone).
        # catch_warnings is process-wide state; it only affects this one warning category.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp, formats=formats) as im:
                w, h = im.size
                if w < 1 or h < 1:
                    raise ImageReadError(f"{name}: image has zero size {w}x{h}")
                if w * h > max_pixels:
                    raise ImageReadError(
                        f"{name}: {w}x{h} = {w * h} pixels exceeds max_pixels={max_pixels} "
                        "(possible decompression bomb)"
                    )
                im.load()  # full decode now, so truncated files fail here
                if exif_transpose:
                    im = _exif_transpose(im, name)
                return _pil_to_rgb(im, name)
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageReadError(f"{name}: image too large, possible decompression bomb ({e})") from None
    except Image.UnidentifiedImageError:
        raise ImageReadError(
            f"{name}: not a readable image (supported formats: {', '.join(formats)})"
        ) from None
    except MemoryError:
        raise
    except Exception as e:  # PIL raises OSError, SyntaxError, EOFError, ValueError, zlib.error...
        raise ImageReadError(f"{name}: cannot decode image ({type(e).__name__}: {e})") from None


def read_image(src: Any, *, max_pixels: int = 89_478_485, exif_transpose: bool = True) -> np.ndarray:
    """Read one image from any supported source as an HxWx3 uint8 array in RGB order.

    Args:
        src: a path (str / pathlib.Path); encoded bytes (bytes, bytearray, memoryview); a
            binary file object (anything with ``.read()``); a ``PIL.Image.Image``; a numpy
            array or torch tensor (see :func:`to_rgb_uint8` for shapes and dtypes). Encoded
            images may be JPEG, PNG, BMP, PGM/PPM/PBM, TIFF, WebP or GIF (first frame).
        max_pixels: refuse encoded images with ``width * height`` above this before
            decoding them. PIL's own global limit (``PIL.Image.MAX_IMAGE_PIXELS``) still
            applies on top, since this function never changes PIL globals.
        exif_transpose: apply the EXIF orientation tag (phone photos), as a viewer would.

    Returns:
        A new C-contiguous HxWx3 uint8 array, channels in **RGB** order (not OpenCV's BGR).

    Raises:
        ImageReadError: missing file, directory, empty or non-image data, truncated or
            corrupt file, too many pixels, an unusable array, or an unsupported ``src`` type.
            The message names the source.

    Example:
        >>> from PIL import Image
        >>> read_image(Image.new("RGB", (3, 2), (255, 0, 0)))[0, 0].tolist()
        [255, 0, 0]
    """
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        name = str(path)
        if not path.exists():
            raise ImageReadError(f"{name}: no such file")
        if path.is_dir():
            raise ImageReadError(f"{name}: is a directory, not an image file")
        try:
            if path.stat().st_size == 0:
                raise ImageReadError(f"{name}: empty file (0 bytes)")
        except OSError as e:
            raise ImageReadError(f"{name}: cannot access file ({e})") from None
        return _decode(path, name, max_pixels, exif_transpose)
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise ImageReadError("<bytes>: empty (0 bytes)")
        return _decode(io.BytesIO(data), "<bytes>", max_pixels, exif_transpose)
    if isinstance(src, Image.Image):
        name = f"<PIL.Image {getattr(src, 'filename', '') or src.mode}>"
        try:
            im = _exif_transpose(src, name) if exif_transpose else src
            return _pil_to_rgb(im, name)
        except ImageReadError:
            raise
        except Exception as e:
            raise ImageReadError(f"{name}: cannot convert PIL image ({type(e).__name__}: {e})") from None
    if isinstance(src, np.ndarray) or type(src).__module__.split(".")[0] == "torch":
        return to_rgb_uint8(src, name=f"<{type(src).__name__}>")
    if hasattr(src, "read"):
        name = f"<file {getattr(src, 'name', type(src).__name__)}>"
        data = src.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageReadError(
                f"{name}: file object returned {type(data).__name__}, open it in binary mode ('rb')"
            )
        if not data:
            raise ImageReadError(f"{name}: empty (0 bytes read)")
        return _decode(io.BytesIO(bytes(data)), name, max_pixels, exif_transpose)
    raise ImageReadError(
        f"unsupported image source of type {type(src).__name__}; expected a path, bytes, a binary "
        "file object, a PIL image, a numpy array or a torch tensor"
    )


# --------------------------------------------------------------------------- writing
def _umask() -> int:
    """Current umask without changing it (os.umask would race with other threads)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_image(path: PathLike, image: Any, quality: int = 95) -> None:
    """Write an RGB image atomically: a reader never sees a half-written file.

    The image goes to a temporary file in the destination folder, is flushed to disk, then
    ``os.replace``-d over ``path``; if anything fails the temporary file is removed and an
    existing ``path`` is left untouched. Missing parent folders are created.

    Args:
        path: destination; the format follows the suffix: ``.jpg``/``.jpeg`` (JPEG at
            ``quality``), ``.png``, ``.bmp``, ``.tif``/``.tiff``.
        image: HxWx3 uint8 **RGB** (anything :func:`to_rgb_uint8` accepts).
        quality: JPEG quality 1-100 (ignored for lossless formats).

    Raises:
        ValueError: unsupported suffix or quality; ImageReadError (a ValueError) for an
            unusable image; OSError when the file system refuses.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "face.png")
        >>> write_image(p, np.zeros((4, 4, 3), np.uint8)); read_image(p).shape
        (4, 4, 3)
    """
    dst = Path(path)
    fmt = _WRITE_FORMATS.get(dst.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"{dst}: cannot write suffix {dst.suffix!r}; supported: {', '.join(sorted(_WRITE_FORMATS))}"
        )
    if not (1 <= int(quality) <= 100):
        raise ValueError(f"quality must be in 1..100, got {quality}")
    rgb = to_rgb_uint8(image, name=str(dst)) if not isinstance(image, Image.Image) else read_image(image)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # Keep an existing file's permissions; new files get the usual 0666 & ~umask rather
    # than mkstemp's private 0600.
    mode = (dst.stat().st_mode & 0o7777) if dst.exists() else (0o666 & ~_umask())
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            kwargs = {"quality": int(quality)} if fmt == "JPEG" else {}
            Image.fromarray(rgb, "RGB").save(f, format=fmt, **kwargs)
            f.flush()
            os.fsync(f.fileno())  # data on disk before the rename makes it visible
        os.chmod(tmp, mode)
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
