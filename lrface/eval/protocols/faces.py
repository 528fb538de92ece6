"""Turn dataset images into aligned 112x112 faces, once, for every protocol.

Order of preference for each image:

1. known landmarks (five points, or two eye centres) shipped with the dataset:
   :func:`lrface.face.align.align` from them, no detection;
2. a face box shipped with the dataset (UCCS): five pseudo-landmarks placed in the box
   (:func:`box_landmarks`), then the same warp;
3. an image that is already 112x112 is taken as aligned (the lrface / insightface layout);
4. otherwise an ``aligner`` (default: MTCNN via :func:`lrface.face.pipeline.detect_and_align`);
   when it finds no face (or the detector is unavailable) the image is aligned from
   :func:`center_landmarks`, the face position LFW's own crops use, and counted as a
   fallback in the protocol result.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple

import numpy as np

from lrface.face.align import ARCFACE_TEMPLATE_112, align, similarity_transform
from lrface.face.io import read_image

logger = logging.getLogger(__name__)

#: ``aligner(image_rgb_uint8) -> aligned 112x112x3 uint8 or None when no face is found``
Aligner = Callable[[np.ndarray], Optional[np.ndarray]]

# Face box <-> template geometry. A detector-style face box is about twice the inter-ocular
# distance wide (the convention lrface.data.synthetic uses for face_px) and centred near the
# nose tip, so in template pixels it is a square of side 2 * IOD centred on the nose.
_IOD = float(np.linalg.norm(ARCFACE_TEMPLATE_112[1] - ARCFACE_TEMPLATE_112[0]))
_BOX_SIDE_112 = 2.0 * _IOD
_BOX_CENTRE_112 = np.array([56.0, float(ARCFACE_TEMPLATE_112[2, 1])])
# LFW images are Viola-Jones boxes enlarged 2.2x and scaled to 250x250 (Huang et al. 2007), so
# an unaligned LFW-like image has a face box of side min(h, w) / 2.2 at its centre.
_LFW_ENLARGE = 2.2


def box_landmarks(box: Sequence[float]) -> np.ndarray:
    """Five pseudo-landmarks for a face box ``(x, y, width, height)``.

    The template is placed so that the box maps to a square of side ``2 * IOD`` centred on
    the nose tip of the 112x112 ArcFace template; side = geometric mean of width and height.
    A rough alignment (no rotation), for datasets that give boxes but no landmarks.

    Example:
        >>> float(box_landmarks((0, 0, 100, 100))[2, 1])  # the nose tip sits at the box centre
        50.0
    """
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(f"face box must have positive width and height, got {tuple(box)}")
    side = float(np.sqrt(w * h))
    centre = np.array([x + w / 2.0, y + h / 2.0])
    return centre + (ARCFACE_TEMPLATE_112 - _BOX_CENTRE_112) * (side / _BOX_SIDE_112)


def landmarks_box(landmarks: np.ndarray) -> Tuple[float, float, float, float]:
    """Inverse of :func:`box_landmarks`: the face box ``(x, y, w, h)`` implied by five points.

    Example:
        >>> [round(v, 3) for v in landmarks_box(box_landmarks((10, 20, 40, 40)))]
        [10.0, 20.0, 40.0, 40.0]
    """
    m = similarity_transform(ARCFACE_TEMPLATE_112, np.asarray(landmarks, np.float64).reshape(5, 2))
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    c = m[:, :2] @ _BOX_CENTRE_112 + m[:, 2]
    side = _BOX_SIDE_112 * scale
    return float(c[0] - side / 2), float(c[1] - side / 2), side, side


def center_landmarks(shape: Tuple[int, ...]) -> np.ndarray:
    """Pseudo-landmarks for an unaligned image whose face sits at the centre, LFW-style."""
    h, w = shape[:2]
    side = min(h, w) / _LFW_ENLARGE
    return box_landmarks(((w - side) / 2.0, (h - side) / 2.0, side, side))


def align_from_points(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Align from five landmarks (lrface order) or two eye centres (image-left eye first)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 5:
        return align(image, pts, 112)
    if pts.shape[0] == 2:
        import cv2

        m = similarity_transform(pts, ARCFACE_TEMPLATE_112[:2])
        return cv2.warpAffine(image, m, (112, 112), flags=cv2.INTER_LINEAR, borderValue=0)
    raise ValueError(f"expected 5 landmarks or 2 eye centres, got {pts.shape[0]} points")


def mtcnn_aligner() -> Optional[Aligner]:
    """The default aligner (MTCNN, largest face, padded retry), or None when unavailable."""
    try:
        from lrface.face.pipeline import DEFAULT_PAD_RETRY, detect_and_align  # imports torch: only when needed
    except ImportError as e:  # pragma: no cover - depends on the installation
        logger.warning("face detector unavailable (%s); unaligned images fall back to a centre crop", e)
        return None

    def _run(image: np.ndarray) -> Optional[np.ndarray]:
        found = detect_and_align(image, pad_retry=DEFAULT_PAD_RETRY)
        return None if found is None else found.image

    return _run


#: Folder where :func:`load_faces` keeps aligned faces between runs (set by the benchmark
#: runner through :func:`face_cache`); ``None`` disables the disk cache.
_FACE_CACHE: contextvars.ContextVar[Optional[Path]] = contextvars.ContextVar("lrface_face_cache", default=None)


@contextlib.contextmanager
def face_cache(folder: Optional[Path]) -> Iterator[None]:
    """Within this context, :func:`load_faces` caches its result in ``folder``.

    The key covers every input path with its size and modification time, the annotations and
    the aligner, so an edited dataset or a different aligner never reuses stale faces.
    """
    token = _FACE_CACHE.set(None if folder is None else Path(folder))
    try:
        yield
    finally:
        _FACE_CACHE.reset(token)


def _cache_key(paths: Sequence[Path], points: Any, boxes: Any, aligner: Any) -> str:
    h = hashlib.sha1(b"lrface-faces-v1")
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(repr(sorted((k, np.asarray(v).round(3).tolist()) for k, v in (points or {}).items())).encode())
    h.update(repr(None if boxes is None else [None if b is None else list(b) for b in boxes]).encode())
    h.update(repr(getattr(aligner, "__qualname__", aligner)).encode())
    return h.hexdigest()


def load_faces(
    paths: Sequence[Path],
    *,
    points: Optional[Dict[str, np.ndarray]] = None,
    boxes: Optional[Sequence[Optional[Sequence[float]]]] = None,
    aligner: Optional[Aligner] = None,
    workers: int = 4,
) -> Tuple[np.ndarray, int]:
    """Read and align images into one (N, 112, 112, 3) uint8 array (see module docstring).

    Inside :func:`face_cache` the result is stored on disk and reused by later runs.
    """
    folder = _FACE_CACHE.get()
    if folder is None:
        return _load_faces(paths, points=points, boxes=boxes, aligner=aligner, workers=workers)
    key = _cache_key(paths, points, boxes, aligner)
    f_npy, f_meta = folder / f"faces-{key}.npy", folder / f"faces-{key}.json"
    if f_npy.is_file() and f_meta.is_file():
        try:
            return np.load(f_npy), int(json.loads(f_meta.read_text())["n_fallback"])
        except (OSError, ValueError, KeyError):
            logger.warning("ignoring unreadable face cache %s", f_npy)
    faces, n_fallback = _load_faces(paths, points=points, boxes=boxes, aligner=aligner, workers=workers)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".faces-{key}.{os.getpid()}.tmp.npy"
    np.save(tmp, faces)
    os.replace(tmp, f_npy)
    f_meta.write_text(json.dumps({"n_fallback": n_fallback, "n": len(paths)}))
    return faces, n_fallback


def _load_faces(
    paths: Sequence[Path],
    *,
    points: Optional[Dict[str, np.ndarray]] = None,
    boxes: Optional[Sequence[Optional[Sequence[float]]]] = None,
    aligner: Optional[Aligner] = None,
    workers: int = 4,
) -> Tuple[np.ndarray, int]:
    """Read and align images into one (N, 112, 112, 3) uint8 array (see module docstring).

    Args:
        paths: image files (read with :func:`lrface.face.io.read_image`, RGB).
        points: optional ``{str(path): (5, 2) or (2, 2) landmarks}``.
        boxes: optional per-path face box ``(x, y, w, h)`` (or None) used when no points.
        aligner: used for images that are neither annotated nor 112x112; default MTCNN.
        workers: threads for decoding (JPEG decoding releases the GIL).

    Returns:
        ``(faces, n_fallback)``: the aligned faces and how many images needed the
        centre-crop fallback because no face was detected.
    """
    n = len(paths)
    out = np.empty((n, 112, 112, 3), np.uint8)
    if boxes is not None and len(boxes) != n:
        raise ValueError(f"{len(boxes)} boxes for {n} paths")
    detect: Optional[Aligner] = aligner
    need_detector = aligner is None
    fallback = 0
    # Decode a chunk at a time: decoded photos (SCface mugshots are 3072x2048) are far
    # bigger than the aligned crops kept.
    chunk = 4 * max(1, workers)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, n or 1))) as pool:
        for start in range(0, n, chunk):
            part = list(paths[start : start + chunk])
            for j, img in enumerate(pool.map(read_image, part)):
                i = start + j
                pts = None if points is None else points.get(str(part[j]))
                box = None if boxes is None else boxes[i]
                if pts is not None:
                    out[i] = align_from_points(img, pts)
                elif box is not None:
                    out[i] = align(img, box_landmarks(box), 112)
                elif img.shape[:2] == (112, 112):
                    out[i] = img
                else:
                    if detect is None and need_detector:
                        detect, need_detector = mtcnn_aligner(), False
                    face = detect(img) if detect is not None else None
                    if face is None or face.shape != (112, 112, 3):
                        fallback += 1
                        logger.debug("%s: no face detected, using the centre crop", part[j])
                        face = align(img, center_landmarks(img.shape), 112)
                    out[i] = face
    if fallback:
        logger.warning("%d of %d images: no face detected, aligned from the image centre instead", fallback, n)
    return out, fallback


def load_box_faces(
    groups: Sequence[Tuple[Path, Sequence[Sequence[float]]]], *, workers: int = 4
) -> np.ndarray:
    """Align many boxed faces per photo, decoding each photo once (UCCS frames are 18 MP).

    Args:
        groups: ``(image path, [box (x, y, w, h), ...])`` per photo.
        workers: decoding threads.

    Returns:
        (sum of box counts, 112, 112, 3) uint8, faces in ``groups`` order.
    """
    total = sum(len(b) for _, b in groups)
    out = np.empty((total, 112, 112, 3), np.uint8)
    i = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(groups), max(1, workers)):
            part = groups[start : start + max(1, workers)]
            for (path, boxes), img in zip(part, pool.map(read_image, [p for p, _ in part])):
                for box in boxes:
                    out[i] = align(img, box_landmarks(box), 112)
                    i += 1
    return out
