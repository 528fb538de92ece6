"""Identity-folder datasets: ``ROOT/<identity>/<image>``.

The layout used by Pins, CASIA-WebFace dumps, VGGFace2 and most face datasets once
extracted. Scanning is strict about the layout (a clear :class:`DatasetLayoutError` naming
the expected path) and tolerant about the content (hidden files and non-image files are
skipped, unreadable images are the reader's business).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, NoReturn, Union

from lrface.errors import DatasetLayoutError
from lrface.face.io import IMAGE_SUFFIXES

PathLike = Union[str, Path]


@dataclass(frozen=True)
class Sample:
    """One image of an identity-folder dataset."""

    identity: str
    path: Path  # absolute path of the image
    relpath: str  # "<identity>/<file>", POSIX separators: stable key across machines


def scan_identity_folders(root: PathLike) -> List[Sample]:
    """List every image under ``root/<identity>/``, sorted by identity then file name.

    Args:
        root: dataset root holding one sub-folder per identity.

    Returns:
        The samples, in a deterministic order.

    Raises:
        DatasetLayoutError: ``root`` is missing, not a folder, has images directly in it
            instead of identity folders, or has no images at all.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetLayoutError(f"dataset folder not found: {root} (expected {root}/<identity>/<image>)")
    if not root.is_dir():
        raise DatasetLayoutError(f"{root} is not a folder (expected {root}/<identity>/<image>)")
    samples: List[Sample] = []
    loose = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            loose.append(entry.name)
            continue
        if not entry.is_dir():
            continue
        for f in sorted(entry.iterdir()):
            # Broken symlinks are kept (not is_file()) so they get an "unreadable" row
            # instead of vanishing silently; sub-folders and non-image files are skipped.
            if f.name.startswith(".") or f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if f.is_file() or f.is_symlink():
                samples.append(Sample(entry.name, f.absolute(), f"{entry.name}/{f.name}"))
    if not samples:
        raise_no_images(root, loose)
    return samples


def raise_no_images(root: Path, loose: List[str]) -> NoReturn:
    """The layout error for a root without identity-folder images (shared by every scanner)."""
    if loose:
        raise DatasetLayoutError(
            f"{root} holds images directly ({loose[0]}, ...) but no identity folders; "
            f"expected {root}/<identity>/<image>, e.g. {root}/alice/{loose[0]}"
        )
    raise DatasetLayoutError(f"no images found under {root}; expected {root}/<identity>/<image>")
