"""Datasets over synthetic faces: :class:`SyntheticFaces` (aligned crops, map-style) and
:func:`write_identity_folders` (a raw identity-folder tree for ``lrface-prepare``).
"""
from __future__ import annotations

import csv
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from lrface.data.synthetic.faces import _check_size, check_degradation, render_face, render_scene
from lrface.face.degrade import Degradation

__all__ = ["SyntheticFaces", "write_identity_folders"]


@dataclass(frozen=True)
class SyntheticFaces:
    """Map-style dataset of pre-aligned synthetic faces: item ``i`` is identity
    ``i // images_per_identity``, sample ``i % images_per_identity``.

    Args:
        num_identities: number of identities (labels ``0 .. num_identities - 1``).
        images_per_identity: samples per identity.
        size: output side in pixels; below 112 the 112 px face degraded by
            :func:`lrface.face.degrade.degrade` (see :func:`render_face`).
        seed: dataset seed; two datasets with the same seed share identities.
        degradation: preset name or :class:`~lrface.face.degrade.Degradation` making faces
            below 112 px (default ``"area"``: exact box averaging).

    Example:
        >>> ds = SyntheticFaces(num_identities=2, images_per_identity=3, size=16)
        >>> x, y = ds.arrays()
        >>> x.shape, y.tolist()
        ((6, 16, 16, 3), [0, 0, 0, 1, 1, 1])
    """

    num_identities: int = 100
    images_per_identity: int = 10
    size: int = 112
    seed: int = 0
    degradation: Union[str, Degradation] = "area"

    def __post_init__(self) -> None:
        for name in ("num_identities", "images_per_identity", "size", "seed"):
            operator.index(getattr(self, name))  # TypeError for floats and strings, early
        if self.num_identities < 1 or self.images_per_identity < 1:
            raise ValueError("num_identities and images_per_identity must be >= 1")
        _check_size(self.size)
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        check_degradation(self.degradation)  # unknown preset names fail here, not per item

    def __len__(self) -> int:
        return self.num_identities * self.images_per_identity

    def _split(self, i: int) -> Tuple[int, int]:
        i = operator.index(i)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {n} items")
        return divmod(i, self.images_per_identity)

    def __getitem__(self, i: int) -> Tuple[np.ndarray, int]:
        """``(image, label)``: (size, size, 3) uint8 RGB and the identity index."""
        ident, smp = self._split(i)
        return render_face(ident, smp, self.seed, self.size, self.degradation)[0], ident

    def landmarks(self, i: int) -> np.ndarray:
        """(5, 2) float32 true landmarks of item ``i`` in output pixels."""
        ident, smp = self._split(i)
        return render_face(ident, smp, self.seed, self.size, self.degradation)[1]

    @property
    def labels(self) -> np.ndarray:
        """(N,) int64 identity label of every item, without rendering."""
        return np.arange(len(self), dtype=np.int64) // self.images_per_identity

    def arrays(self, indices: Optional[Iterable[int]] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Render items (all by default) into ``(N, H, W, 3) uint8`` images and ``(N,) int64`` labels."""
        idx = range(len(self)) if indices is None else [operator.index(i) for i in indices]
        items = [self[i] for i in idx]
        h, w = items[0][0].shape[:2] if items else (self.size, self.size)  # a preset may upsample
        x = np.empty((len(idx), h, w, 3), np.uint8)
        y = np.empty(len(idx), np.int64)
        for k, (img, label) in enumerate(items):
            x[k], y[k] = img, label
        return x, y


def write_identity_folders(
    root: Union[str, Path],
    num_identities: int = 10,
    images_per_identity: int = 5,
    seed: int = 0,
    scene: bool = True,
    canvas: Sequence[int] = (160, 160),
    size: int = 112,
    face_px: float = 60.0,
) -> Path:
    """Write a raw identity-folder dataset (the input layout of ``lrface-prepare SRC DST``).

    Layout: ``root/id_0000/id_0000_0001.jpg`` ... (JPEG quality 95, file numbers start at 1 as
    in LFW) and ``root/landmarks.csv`` with columns ``path,x1,y1,...,x5,y5`` (``path`` relative
    to ``root``, POSIX separators; landmarks in image pixels).

    Args:
        root: output folder (created if missing; existing files with the same names are replaced).
        num_identities: identities to write.
        images_per_identity: images per identity.
        seed: dataset seed.
        scene: ``True`` writes unaligned :func:`render_scene` canvases, ``False`` aligned
            :func:`render_face` crops of ``size``.
        canvas: ``(height, width)`` of scene images.
        size: side of aligned crops when ``scene`` is ``False``.
        face_px: nominal face width in scenes (see :func:`render_scene`).

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     out = write_identity_folders(d, num_identities=2, images_per_identity=1)
        ...     sorted(p.name for p in out.iterdir())
        ['id_0000', 'id_0001', 'landmarks.csv']
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for ident in range(num_identities):
        folder = root / f"id_{ident:04d}"
        folder.mkdir(exist_ok=True)
        for smp in range(images_per_identity):
            if scene:
                img, lm = render_scene(ident, smp, seed, (int(canvas[0]), int(canvas[1])), face_px)
            else:
                img, lm = render_face(ident, smp, seed, size)
            path = folder / f"{folder.name}_{smp + 1:04d}.jpg"
            bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise OSError(f"could not write {path}")
            rows.append([path.relative_to(root).as_posix()] + [f"{v:.3f}" for v in lm.reshape(-1)])
    with open(root / "landmarks.csv", "w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["path"] + [f"{c}{k}" for k in range(1, 6) for c in "xy"])
        wr.writerows(rows)
    return root
