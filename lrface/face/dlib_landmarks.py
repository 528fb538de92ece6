"""dlib's 5-point landmark model in numpy (public domain, CC0 1.0): where dlib's chip goes.

``shape_predictor_5_face_landmarks.dat`` (Davis King) places the two corners of each eye and the
base of the nose with a cascade of regression-tree ensembles (Kazemi and Sullivan, "One
millisecond face alignment with an ensemble of regression trees", CVPR 2014): starting from a
mean shape inside a face box, each of the cascade's levels reads a few hundred pixel
intensities at positions tied to the current landmarks, and each of its trees, by comparing
pairs of them, picks a leaf whose shape update is added. dlib's face ResNet was trained on
chips cut from these five points, so landmarks from this model give the chips it knows best.

lrface runs it (``ShapePredictor.__call__``, a vectorised port of dlib's
``shape_predictor::operator()``: same features, same rounding, same tree walk) inside a box
placed from lrface's own MTCNN landmarks, and refines the chip of a full-resolution face with
it (:func:`lrface.models.inputs.photo_chip`). It needs dlib's file, or the converted copy that
``lrface/weights/dlib_landmarks5.npz`` ships (``convert``).

Example:
    >>> sp = ShapePredictor.load()                                  # doctest: +SKIP
    >>> sp(gray_image, (left, top, right, bottom)).shape            # doctest: +SKIP
    (5, 2)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from lrface.errors import WeightsError

__all__ = ["ShapePredictor", "read_shape_predictor", "SHIPPED"]

PathLike = Union[str, Path]
#: The converted model shipped in the package (see :meth:`ShapePredictor.save`), and its sha256.
SHIPPED = "dlib_landmarks5.npz"
SHIPPED_SHA256 = "c8f2f63c2cc5a933adb09c9b39ad56347851130eb85e98b4b77157865558bf23"


def _similarities(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The linear parts ``(N, 2, 2)`` of the least-squares similarities from ``src`` ``(P, 2)``
    to each ``dst[n]`` ``(P, 2)`` (dlib's ``find_similarity_transform``, Umeyama 1991), batched."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    s_c = src - src.mean(0)
    d_c = dst - dst.mean(1, keepdims=True)
    var = (s_c ** 2).sum() / len(src)
    cov = np.einsum("npi,pj->nij", d_c, s_c) / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones((len(dst), 2))
    d[np.linalg.det(u) * np.linalg.det(vt) < 0, 1] = -1.0  # a similarity keeps orientation
    rot = u @ (d[:, :, None] * vt)
    scale = (sig * d).sum(1) / var
    return scale[:, None, None] * rot


@dataclass
class ShapePredictor:
    """A cascade of regression-tree ensembles (arrays shaped by cascade ``C``, trees ``T``,
    splits per tree ``S``, leaves ``L = S + 1``, feature pixels ``F``, parts ``P``).

    Attributes:
        initial: ``(P, 2)`` mean shape in box coordinates (0..1).
        anchor: ``(C, F)`` the part each feature pixel hangs on.
        deltas: ``(C, F, 2)`` its offset from that part, in the mean shape's frame.
        split_a, split_b: ``(C, T, S)`` the two feature pixels a split compares.
        thresh: ``(C, T, S)`` the split threshold on their intensity difference.
        leaves: ``(C, T, L, P, 2)`` shape updates.
    """

    initial: np.ndarray
    anchor: np.ndarray
    deltas: np.ndarray
    split_a: np.ndarray
    split_b: np.ndarray
    thresh: np.ndarray
    leaves: np.ndarray

    @property
    def num_parts(self) -> int:
        return int(self.initial.shape[0])

    def __call__(self, image: np.ndarray, rect: Sequence[float]) -> np.ndarray:
        """The landmarks ``(P, 2)`` (x, y) in ``image``'s pixels for the face in ``rect``
        ``(left, top, right, bottom)`` (dlib's inclusive box); ``image`` RGB or gray uint8."""
        return self.batch(np.asarray(image)[None], np.asarray(rect, np.float64)[None])[0]

    def batch(self, images: np.ndarray, rects: np.ndarray) -> np.ndarray:
        """:meth:`__call__` for ``N`` images of one size at once: ``(N, H, W[, 3])`` uint8 and
        ``(N, 4)`` boxes -> ``(N, P, 2)``."""
        img = np.asarray(images)
        if img.ndim == 4:  # dlib's intensity of an RGB pixel: the integer mean of the channels
            img = (img.astype(np.uint16).sum(axis=3) // 3).astype(np.uint8)
        n, h, w = img.shape
        rects = np.asarray(rects, np.float64).reshape(n, 4)
        scale = (rects[:, 2:] - rects[:, :2])[:, None, :]  # (N, 1, 2)
        origin = rects[:, None, :2]
        shape = np.repeat(self.initial[None].astype(np.float32), n, axis=0)  # (N, P, 2)
        n_trees, n_splits = self.split_a.shape[1:]
        depth = int(np.log2(n_splits + 1))
        rows = np.arange(n)[:, None]
        trees = np.arange(n_trees)[None, :]
        flat = img.reshape(n, -1)
        for c in range(self.anchor.shape[0]):
            m = _similarities(self.initial, shape).astype(np.float32)  # (N, 2, 2)
            pts = np.einsum("fj,nij->nfi", self.deltas[c], m) + shape[:, self.anchor[c]]
            pix = np.floor(pts * scale + origin + 0.5).astype(np.int64)  # dlib rounds to the nearest pixel
            inside = (pix[..., 0] >= 0) & (pix[..., 0] < w) & (pix[..., 1] >= 0) & (pix[..., 1] < h)
            lin = np.where(inside, pix[..., 1] * w + pix[..., 0], 0)
            feat = np.where(inside, np.take_along_axis(flat, lin, axis=1), 0).astype(np.float32)  # (N, F)
            node = np.zeros((n, n_trees), np.int64)
            for _ in range(depth):
                a = self.split_a[c][trees, node]
                b = self.split_b[c][trees, node]
                go_left = (np.take_along_axis(feat, a, 1) - np.take_along_axis(feat, b, 1)) > self.thresh[c][trees, node]
                node = np.where(go_left, 2 * node + 1, 2 * node + 2)
            upd = self.leaves[c][trees, node - n_splits]  # (N, T, P, 2)
            shape = shape + upd.sum(axis=1, dtype=np.float32)
        del rows
        return shape.astype(np.float64) * scale + origin

    def save(self, path: PathLike) -> None:
        """A compact ``.npz`` (what the package ships), byte-for-byte reproducible (fixed zip
        timestamps, so its sha256 is a constant), written atomically."""
        import io
        import zipfile

        arrays = {"initial": self.initial, "anchor": self.anchor.astype(np.uint8), "deltas": self.deltas,
                  "split_a": self.split_a.astype(np.uint16), "split_b": self.split_b.astype(np.uint16),
                  "thresh": self.thresh, "leaves": self.leaves}
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, arr in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, buf.getvalue())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Optional[PathLike] = None) -> "ShapePredictor":
        """From an ``.npz`` written by :meth:`save` (default: the one shipped in the package)
        or from dlib's ``.dat``."""
        if path is None:
            from lrface.models.weights import PACKAGE_WEIGHTS

            path = PACKAGE_WEIGHTS / SHIPPED
        path = Path(path)
        if path.suffix == ".dat":
            return read_shape_predictor(path)
        if not path.is_file():
            raise WeightsError(f"landmark model not found: {path}")
        with np.load(path, allow_pickle=False) as z:
            return cls(**{k: z[k] for k in ("initial", "anchor", "deltas", "split_a", "split_b", "thresh", "leaves")})


def read_shape_predictor(path: PathLike) -> ShapePredictor:
    """Parse dlib's ``shape_predictor`` serialisation (version 1: the mean shape, the forests,
    then per cascade the feature pixels' anchors and offsets); refuses bytes left over.

    Raises:
        WeightsError: not such a file, trees of unequal depth, or a truncated file.
    """
    from lrface.models.dlib_io import _Reader

    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"dlib landmark model not found: {p}")
    r = _Reader(p.read_bytes(), p.name)

    def matrix() -> np.ndarray:
        nr, nc = -r.int_(), -r.int_()  # dlib writes the negated sizes
        if nr < 0 or nc < 0:
            raise r.fail("bad matrix size")
        return np.array([r.float_() for _ in range(nr * nc)], np.float32).reshape(nr, nc)

    if r.int_() != 1:
        raise r.fail("shape predictor version is not 1")
    initial = matrix().reshape(-1, 2)
    n_cascades = r.int_()
    split_a, split_b, thresh, leaves = [], [], [], []
    for _ in range(n_cascades):
        n_trees = r.int_()
        ca, cb, ct, cl = [], [], [], []
        for _ in range(n_trees):
            n_splits = r.int_()
            sp = [(r.int_(), r.int_(), r.float_()) for _ in range(n_splits)]
            n_leaves = r.int_()
            if n_leaves != n_splits + 1:
                raise r.fail("a tree whose leaves do not fill its last level")
            lv = [matrix().reshape(-1, 2) for _ in range(n_leaves)]
            ca.append([s[0] for s in sp])
            cb.append([s[1] for s in sp])
            ct.append([s[2] for s in sp])
            cl.append(lv)
        split_a.append(ca), split_b.append(cb), thresh.append(ct), leaves.append(cl)
    anchors = [[r.int_() for _ in range(r.int_())] for _ in range(r.int_())]
    deltas = []
    for _ in range(r.int_()):
        deltas.append([(r.float_(), r.float_()) for _ in range(r.int_())])
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} bytes left after the model")
    try:
        return ShapePredictor(initial=initial, anchor=np.asarray(anchors, np.int64),
                              deltas=np.asarray(deltas, np.float32), split_a=np.asarray(split_a, np.int64),
                              split_b=np.asarray(split_b, np.int64), thresh=np.asarray(thresh, np.float32),
                              leaves=np.asarray(leaves, np.float32))
    except ValueError:
        raise r.fail("cascades of unequal size") from None


_LOADED: dict = {}


def landmark_model() -> ShapePredictor:
    """The shipped landmark model, loaded once (sha256-checked)."""
    if "sp" not in _LOADED:
        from lrface.models.weights import PACKAGE_WEIGHTS, sha256_file

        path = PACKAGE_WEIGHTS / SHIPPED
        if not path.is_file():
            raise WeightsError(f"{path} is missing: reinstall lrface, or rebuild it with benchmarks/ship_hr.py")
        if sha256_file(path) != SHIPPED_SHA256:
            raise WeightsError(f"sha256 mismatch for {path}: the file is corrupt or was modified; reinstall lrface")
        _LOADED["sp"] = ShapePredictor.load(path)
    return _LOADED["sp"]
