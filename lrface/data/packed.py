"""Training faces from identity folders, decoded once into a memory-mapped uint8 pack.

Training a compact student on 2 CPU cores must spend the cores on the student, not on JPEG
decoding: :func:`pack_folders` reads every image of one or more identity-folder roots once,
brings it to the aligned 112x112 frame, and stores all faces in one ``(N, 112, 112, 3)``
uint8 file (about 37 KB a face) beside a small JSON index. Later runs map the file and
slice batches out of it at memory speed.

* Several roots are mixed with **separate label spaces**: identity ``alice`` of root ``pins``
  and identity ``alice`` of root ``celeba`` are different classes (``pins/alice``,
  ``celeba/alice``), since the same folder name in two datasets is not evidence of the same
  person.
* A root can be **unlabelled** (``labelled: false``): its faces get label -1 (distillation
  losses use them; identity losses skip them).
* Faces of any stored size on the ArcFace template are brought to 112x112: smaller ones
  (the 64x64 CelebA folder) enlarged with bicubic, larger ones shrunk with area, both through
  :func:`lrface.face.degrade.degrade`. Non-square images are refused (they are not aligned).
* Unreadable files are skipped, counted and named in the index, never silently dropped.

The pack is keyed by the list of files with their sizes and modification times, so a changed
dataset is packed again and an unchanged one is reused.

Example:
    >>> ds = pack_folders([RootSpec("/data/pins_aligned", name="pins")], cache_dir="/tmp/packs")  # doctest: +SKIP
    >>> image, label, index = ds[0]                                                             # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from lrface.data.folder import scan_identity_folders
from lrface.errors import DatasetLayoutError, ImageReadError
from lrface.face.degrade import Degradation, degrade
from lrface.face.io import read_image

log = logging.getLogger(__name__)

SIZE = 112
_UP = Degradation(kernel="bicubic", antialias=False)
_DOWN = Degradation(kernel="area")
PACK_VERSION = 1


@dataclass(frozen=True)
class RootSpec:
    """One identity-folder root to train on.

    Args:
        path: ``ROOT/<identity>/<image>`` with aligned faces (``lrface-prepare`` output, or
            already-aligned sets such as the CelebA folders).
        name: prefix of this root's identities (default: the folder name).
        labelled: ``False``: use the faces without identity labels (label -1).
    """

    path: str
    name: Optional[str] = None
    labelled: bool = True

    @property
    def prefix(self) -> str:
        return self.name or Path(self.path).name


class PackedFaces:
    """Aligned faces ``(N, 112, 112, 3)`` uint8 with labels; ``ds[i] -> (image, label, i)``.

    ``index`` is the position in the pack, a stable key for memory banks and the teacher cache
    (docs/design.md, convention 14). :meth:`subset` keeps the original indices.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, identities: List[str], relpaths: List[str],
                 indices: Optional[np.ndarray] = None, key: str = "", content_key: str = "") -> None:
        self.images = images
        self.labels = np.asarray(labels, np.int64)
        self.identities = identities  # label -> "root/identity"
        self.relpaths = relpaths  # pack index -> "root/identity/file"
        self.indices = np.arange(len(images)) if indices is None else np.asarray(indices, np.int64)
        self.key = key
        self.content_key = content_key or content_hash(images)  # sha1 of the pixels: keys caches

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: Sequence[int], identities: Sequence[str]) -> "PackedFaces":
        """An in-memory pack (e.g. synthetic faces): images ``(N, 112, 112, 3)`` uint8."""
        images = np.ascontiguousarray(images, np.uint8)
        if images.ndim != 4 or images.shape[1:] != (SIZE, SIZE, 3):
            raise ValueError(f"images must be (N, {SIZE}, {SIZE}, 3) uint8, got {images.shape}")
        rel = [f"{identities[l] if l >= 0 else 'unlabelled'}/{i}" for i, l in enumerate(labels)]
        return cls(images, np.asarray(labels), list(identities), rel)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Tuple[np.ndarray, int, int]:
        j = int(self.indices[i])
        return self.images[j], int(self.labels[j]), j

    def batch(self, pack_indices: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Faces and labels at pack indices (sorted reads are fastest on a memmap)."""
        idx = np.asarray(pack_indices, np.int64)
        return np.asarray(self.images[idx]), self.labels[idx]

    @property
    def num_classes(self) -> int:
        return len(self.identities)

    def identity_of(self) -> np.ndarray:
        """Label of every sample in this view (-1 for unlabelled)."""
        return self.labels[self.indices]

    def subset(self, keep: np.ndarray) -> "PackedFaces":
        """A view on the samples where the boolean ``keep`` (over this view) is true."""
        return PackedFaces(self.images, self.labels, self.identities, self.relpaths, self.indices[np.asarray(keep, bool)],
                           self.key, self.content_key)

    def split_identities(self, fraction: float, seed: int = 0,
                         train_only: Sequence[str] = ()) -> Tuple["PackedFaces", "PackedFaces"]:
        """(train, validation) views with disjoint identities: a seeded ``fraction`` of the
        labelled identities that have at least 2 faces goes to validation. Identities of the
        roots named in ``train_only`` never do, so adding such a root keeps the split of the
        others unchanged (labels of earlier roots do not move when a root is appended)."""
        lab = self.identity_of()
        ids, counts = np.unique(lab[lab >= 0], return_counts=True)
        eligible = ids[counts >= 2]
        if train_only:
            prefixes = tuple(f"{p}/" for p in train_only)
            eligible = np.array([i for i in eligible if not self.identities[i].startswith(prefixes)], np.int64)
        rng = np.random.default_rng(seed)
        n_val = int(round(fraction * len(eligible)))
        val_ids = rng.choice(eligible, size=n_val, replace=False) if n_val else np.empty(0, np.int64)
        is_val = np.isin(lab, val_ids)
        return self.subset(~is_val), self.subset(is_val)

    def sample_identities(self, fraction: float, seed: int = 0) -> "PackedFaces":
        """A seeded ``fraction`` of this view's identities with all their faces (unlabelled faces
        are kept with the same probability): for data-scaling experiments."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        if fraction == 1.0:
            return self
        lab = self.identity_of()
        rng = np.random.default_rng(seed)
        ids = np.unique(lab[lab >= 0])
        keep_ids = rng.choice(ids, size=max(1, int(round(fraction * len(ids)))), replace=False)
        keep = np.isin(lab, keep_ids) | ((lab < 0) & (rng.random(len(lab)) < fraction))
        return self.subset(keep)


def content_hash(images: np.ndarray, chunk: int = 2048) -> str:
    """sha1 of a face array's bytes, in chunks (a memmap is never loaded whole)."""
    h = hashlib.sha1(str(images.shape).encode())
    for s in range(0, len(images), chunk):
        h.update(np.ascontiguousarray(images[s : s + chunk]).data)
    return h.hexdigest()


def _fingerprint(roots: Sequence[RootSpec], files: Sequence[Tuple[str, Path]]) -> str:
    h = hashlib.sha1(f"pack-v{PACK_VERSION}|{SIZE}|".encode())
    for r in roots:
        h.update(f"{r.prefix}|{r.labelled};".encode())
    for rel, p in files:
        try:
            st = p.stat()
            h.update(f"{rel}|{st.st_size}|{st.st_mtime_ns};".encode())
        except OSError:
            h.update(f"{rel}|missing;".encode())
    return h.hexdigest()[:20]


def to_frame(img: np.ndarray, name: str = "<image>") -> np.ndarray:
    """An aligned square face of any size -> 112x112 uint8 (bicubic up, area down)."""
    h, w = img.shape[:2]
    if h != w:
        raise ImageReadError(f"{name}: {w}x{h} is not square, so not an aligned face (align it with lrface-prepare)")
    if h == SIZE:
        return img
    return degrade(img, SIZE, _UP if h < SIZE else _DOWN)


def _drop_superseded(folder: Path, key: str, meta: Dict) -> None:
    """Delete older packs with the same roots, files and bytes as the new one ``key``: they
    differ only in file times (data copied or re-mounted), and each holds N x 37 KB on disk.
    Teacher caches are keyed by content, so they stay valid."""
    for other in folder.glob("*.json"):
        if other.stem == key:
            continue
        try:
            m = json.loads(other.read_text())
        except (OSError, ValueError):
            continue
        if (m.get("content_sha1") == meta["content_sha1"] and m.get("roots") == meta["roots"]
                and m.get("relpaths") == meta["relpaths"]):
            other.unlink(missing_ok=True)
            other.with_suffix(".u8").unlink(missing_ok=True)
            log.info("removed pack %s: superseded by %s (same faces, newer file times)", other.stem, key)


def pack_folders(roots: Sequence[Union[RootSpec, str]], cache_dir: Union[str, Path], progress: bool = True) -> PackedFaces:
    """Pack the faces of ``roots`` (or reuse the pack made earlier from the same files).

    Raises:
        DatasetLayoutError: a root is missing or has no identity folders (message names it).
    """
    specs = [r if isinstance(r, RootSpec) else RootSpec(str(r)) for r in roots]
    if not specs:
        raise DatasetLayoutError("no training roots given")
    prefixes = [s.prefix for s in specs]
    if len(set(prefixes)) != len(prefixes):
        raise DatasetLayoutError(f"two roots share the name {prefixes}: give each a distinct name")
    files: List[Tuple[str, Path]] = []
    ident: List[str] = []
    labelled: List[bool] = []
    for spec in specs:
        for s in scan_identity_folders(spec.path):
            files.append((f"{spec.prefix}/{s.relpath}", s.path))
            ident.append(f"{spec.prefix}/{s.identity}")
            labelled.append(spec.labelled)
    key = _fingerprint(specs, files)
    folder = Path(cache_dir) / "packs"
    data_path, meta_path = folder / f"{key}.u8", folder / f"{key}.json"
    if meta_path.is_file() and data_path.is_file():
        meta = json.loads(meta_path.read_text())
        n = len(meta["relpaths"])
        images = np.memmap(data_path, np.uint8, "r", shape=(n, SIZE, SIZE, 3))
        log.info("reusing pack %s (%d faces, %d identities)", data_path, n, len(meta["identities"]))
        return PackedFaces(images, np.asarray(meta["labels"]), meta["identities"], meta["relpaths"], key=key,
                           content_key=meta["content_sha1"])
    folder.mkdir(parents=True, exist_ok=True)
    tmp = data_path.with_name(f".{data_path.name}.{os.getpid()}.tmp")
    frame = SIZE * SIZE * 3
    images = np.memmap(tmp, np.uint8, "w+", shape=(max(len(files), 1), SIZE, SIZE, 3))
    keep: List[int] = []
    skipped: Dict[str, str] = {}
    from tqdm import tqdm

    for i, (rel, path) in enumerate(tqdm(files, desc="packing faces", unit="img", disable=not progress)):
        try:
            images[len(keep)] = to_frame(read_image(path), rel)  # compacted as we go
            keep.append(i)
        except ImageReadError as e:
            skipped[rel] = str(e)
    images.flush()
    del images
    if not keep:
        tmp.unlink(missing_ok=True)
        raise DatasetLayoutError(f"none of the {len(files)} images under {', '.join(s.path for s in specs)} "
                                 f"could be read, e.g. {next(iter(skipped.items()))}")
    os.truncate(tmp, len(keep) * frame)
    if skipped:
        log.warning("%d of %d images could not be used (named in %s), e.g. %s", len(skipped), len(files),
                    meta_path, next(iter(skipped.items())))
    names: Dict[str, int] = {}
    labels = [names.setdefault(ident[i], len(names)) if labelled[i] else -1 for i in keep]
    os.replace(tmp, data_path)
    out = np.memmap(data_path, np.uint8, "r", shape=(len(keep), SIZE, SIZE, 3))
    meta = {"version": PACK_VERSION, "content_sha1": content_hash(out), "roots": [s.__dict__ for s in specs], "labels": labels,
            "identities": list(names), "relpaths": [files[i][0] for i in keep], "skipped": skipped}
    meta_tmp = meta_path.with_name(f".{meta_path.name}.tmp")
    meta_tmp.write_text(json.dumps(meta))
    os.replace(meta_tmp, meta_path)  # the pack exists only once both files are complete
    _drop_superseded(folder, key, meta)
    return PackedFaces(out, np.asarray(labels), list(names), meta["relpaths"], key=key, content_key=meta["content_sha1"])
