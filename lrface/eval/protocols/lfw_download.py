"""Fetch LFW (pair lists and images) with checksums; called explicitly, never on import.

Sources: the official LFW site (http://vis-www.cs.umass.edu/lfw/) and the figshare mirror
that scikit-learn's ``fetch_lfw_pairs`` uses; the sha256 checksums are the ones published
with scikit-learn (``sklearn/datasets/_lfw.py``), and every file is verified against them
whichever URL served it.

The images come as ``lfw.tgz`` (13,233 unaligned 250x250 JPEGs); they are unpacked to
``<root>/images/<Name>/<Name>_NNNN.jpg``. The LFW protocol aligns them with MTCNN on first
use; aligning once with ``lrface-prepare <root>/images <root>/aligned`` and pointing the
protocol at the aligned copy is faster.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Tuple, Union
from urllib.request import urlopen

from lrface.errors import LrfaceError

logger = logging.getLogger(__name__)

_UMASS = "http://vis-www.cs.umass.edu/lfw/"
_FIGSHARE = "https://ndownloader.figshare.com/files/"


class DownloadError(LrfaceError, OSError):
    """A dataset file could not be downloaded or failed its checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: its name under ``root``, candidate URLs (tried in order), sha256."""

    name: str
    urls: Tuple[str, ...]
    sha256: str


#: Pair lists first (small), then the image archive.
LFW_FILES: Tuple[RemoteFile, ...] = (
    RemoteFile("pairs.txt", (_UMASS + "pairs.txt", _FIGSHARE + "5976006"),
               "ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592"),
    RemoteFile("pairsDevTrain.txt", (_UMASS + "pairsDevTrain.txt", _FIGSHARE + "5976012"),
               "1d454dada7dfeca0e7eab6f65dc4e97a6312d44cf142207be28d688be92aabfa"),
    RemoteFile("pairsDevTest.txt", (_UMASS + "pairsDevTest.txt", _FIGSHARE + "5976009"),
               "7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c"),
)
LFW_ARCHIVE = RemoteFile("lfw.tgz", (_UMASS + "lfw.tgz", _FIGSHARE + "5976018"),
                         "055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(rf: RemoteFile, dest: Path, timeout: float) -> None:
    """Download ``rf`` to ``dest`` atomically, trying each URL; verify its checksum."""
    errors = []
    for url in rf.urls:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{rf.name}.", suffix=".part")
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, urlopen(url, timeout=timeout) as resp:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    h.update(block)
                    out.write(block)
            if h.hexdigest() != rf.sha256:
                errors.append(f"{url}: checksum mismatch (got sha256 {h.hexdigest()[:16]}..., "
                              f"expected {rf.sha256[:16]}...)")
                continue
            os.replace(tmp, dest)
            logger.info("downloaded %s from %s", dest, url)
            return
        except OSError as e:  # URLError, HTTPError, timeouts and disk errors are all OSErrors
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DownloadError(
        f"could not download {rf.name}: " + "; ".join(errors) + ". "
        f"Download it by hand from one of {', '.join(rf.urls)}, check that its sha256 is "
        f"{rf.sha256}, and save it as {dest} (see docs/datasets.md)."
    )


def _extract_images(archive: Path, images: Path) -> int:
    """Unpack ``lfw/<Name>/<file>.jpg`` members to ``images/<Name>/<file>.jpg``.

    Members are written one by one after checking their names, so a crafted archive cannot
    write outside ``images`` (no absolute paths, no ``..``, no links).
    """
    n = 0
    with tarfile.open(archive, "r:gz") as tar:
        for m in tar:
            parts = PurePosixPath(m.name).parts
            if not m.isfile() or len(parts) != 3 or parts[0] != "lfw" or not parts[2].lower().endswith(".jpg"):
                continue
            if any(p in ("", ".", "..") or "\\" in p for p in parts[1:]):
                continue
            dst = images / parts[1] / parts[2]
            dst.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            if src is None:
                continue
            with src, open(dst, "wb") as out:
                out.write(src.read())
            n += 1
    return n


def download_lfw(root: Union[str, Path], *, images: bool = True, timeout: float = 60.0,
                 keep_archive: bool = False) -> Path:
    """Download LFW's pair lists (and images) into ``root``, verifying sha256 checksums.

    Files already present with the right checksum are not fetched again.

    Args:
        root: destination folder (created).
        images: also fetch ``lfw.tgz`` (173 MB) and unpack it to ``<root>/images``.
        timeout: socket timeout per request, seconds.
        keep_archive: keep ``lfw.tgz`` after unpacking.

    Returns:
        ``root`` as a Path, ready for :class:`~lrface.eval.protocols.lfw.LFWVerification`.

    Raises:
        DownloadError: no URL worked or a checksum did not match; the message says how to
            fetch the file by hand and where to put it.

    Example:
        >>> # download_lfw("~/data/lfw")  # network access; not run in doctests
    """
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    wanted = LFW_FILES + ((LFW_ARCHIVE,) if images else ())
    for rf in wanted:
        dest = root / rf.name
        if rf is LFW_ARCHIVE and (root / "images").is_dir() and any((root / "images").iterdir()):
            logger.info("%s already holds images; not downloading %s", root / "images", rf.name)
            continue
        if dest.is_file() and _sha256(dest) == rf.sha256:
            continue
        _fetch(rf, dest, timeout)
        if rf is LFW_ARCHIVE:
            n = _extract_images(dest, root / "images")
            logger.info("unpacked %d images to %s", n, root / "images")
            if not keep_archive:
                dest.unlink()
    return root
