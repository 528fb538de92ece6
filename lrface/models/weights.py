"""Weights that carry their preprocessing: the manifest, sha256 checks and ``load_model``.

A manifest (``MANIFEST.yaml``) maps a model name to a weight file and everything needed to
use it correctly, like timm's pretrained configs::

    models:
      lrstudent16-y1:
        file: lrstudent16-y1.pt          # beside the manifest
        arch: lrstudent16                # a name in lrface.models.list_models()
        arch_kwargs: {}                  # extra constructor arguments
        input_size: [16, 16]
        channel_order: RGB
        mean: [127.5, 127.5, 127.5]
        std: [128.0, 128.0, 128.0]
        template: arcface_112
        degradation: {preset: area, res: 16}   # how HR faces become this model's input
        embedding_size: 128
        sha256: 3f2a...
        threshold: 0.31                  # verification threshold (cosine) calibrated on ...
        default_for_res: [16]            # load_model(res=16) picks this one
        provenance: {teacher: mobilefacenet_y1, data: pins, commit: ...}
        metrics: {lfw_16: 0.95}

Names: :func:`list_models` returns every name :func:`load_model` accepts: the names of
models with weights (manifest entries) and, unless ``pretrained=True``, the registered
architectures, which load randomly initialised (as ``timm.create_model(name)`` does), with a
logged warning. A manifest entry named like an architecture wins over it.

Two manifests are searched: the package's own ``lrface/weights/MANIFEST.yaml`` (models shipped by
this project) and ``$LRFACE_WEIGHTS/MANIFEST.yaml`` when that variable is set (models you
converted or trained). A path given to :func:`load_model` uses the ``MANIFEST.yaml`` in its
own folder.

Safety: files load with ``torch.load(weights_only=True)`` only, after their sha256 matched
the manifest. A pickled file or a file without a manifest entry is refused unless the caller
passes ``trust=True`` (pickle can execute code; an unverified file may not be what it says).
"""
from __future__ import annotations

import copy
import difflib
import fnmatch
import hashlib
import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import yaml

from lrface.errors import WeightsError
from lrface.models.base import FaceModel, ModelCfg, create_model
from lrface.models.base import list_models as list_architectures

log = logging.getLogger(__name__)

PathLike = Union[str, Path]
MANIFEST_NAME = "MANIFEST.yaml"


def package_weights_dir() -> Path:
    """Folder of the shipped ``MANIFEST.yaml`` and weights: ``lrface/weights`` inside the package.

    Located through the installed package (``importlib.resources``), not relative to a
    source checkout, so a plain ``pip install`` (wheel), an editable install and a source
    tree all find the same files. ``setup.cfg`` ships them as package data.
    """
    from importlib.resources import files

    return Path(str(files("lrface") / "weights"))


#: The shipped weights folder (see :func:`package_weights_dir`).
PACKAGE_WEIGHTS = package_weights_dir()


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class WeightsEntry:
    """One manifest entry, resolved against the folder its manifest lives in."""

    name: str
    path: Path
    arch: str
    sha256: Optional[str]
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def cfg(self) -> ModelCfg:
        m = self.meta
        kw: Dict[str, Any] = {}
        for key in ("input_size", "mean", "std"):
            if key in m:
                kw[key] = tuple(m[key])
        for key in ("embedding_size", "channel_order", "template", "role"):
            if key in m:
                kw[key] = m[key]
        return ModelCfg(**kw)

    @property
    def threshold(self) -> Optional[float]:
        t = self.meta.get("threshold")
        return None if t is None else float(t)

    @property
    def degradation(self) -> Dict[str, Any]:
        return dict(self.meta.get("degradation") or {})


_PARSED: Dict[str, Tuple[Tuple[int, int], Dict[str, Any]]] = {}


def _parse_manifest(path: Path) -> Dict[str, Any]:
    """The parsed YAML of a manifest, re-read only when the file's mtime or size changed
    (``embed()`` consults the manifests on every call; parsing them each time cost ~0.2 s)."""
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _PARSED.get(str(path))
    if hit is not None and hit[0] == stamp:
        return copy.deepcopy(hit[1])
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when libyaml is there
    try:
        data = yaml.load(path.read_text(), Loader=loader) or {}
    except yaml.YAMLError as e:
        raise WeightsError(f"{path} is not valid YAML: {e}") from None
    _PARSED[str(path)] = (stamp, data)
    return copy.deepcopy(data)


def read_manifest(folder: PathLike) -> Dict[str, WeightsEntry]:
    """Entries of ``folder/MANIFEST.yaml`` (empty when the file does not exist)."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return {}
    data = _parse_manifest(path)
    out: Dict[str, WeightsEntry] = {}
    for name, m in (data.get("models") or {}).items():
        if not isinstance(m, dict) or "file" not in m or "arch" not in m:
            raise WeightsError(f"{path}: entry {name!r} needs at least 'file' and 'arch'")
        out[name] = WeightsEntry(name, folder / m["file"], m["arch"], m.get("sha256"), dict(m))
    return out


def write_manifest_entry(folder: PathLike, name: str, meta: Dict[str, Any]) -> Path:
    """Add or replace ``name`` in ``folder/MANIFEST.yaml`` (atomic rewrite)."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    data: Dict[str, Any] = {"models": {}}
    if path.is_file():
        data = yaml.safe_load(path.read_text()) or {"models": {}}
        data.setdefault("models", {})
    data["models"][name] = meta
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp, path)
    return path


def manifest_folders() -> List[Path]:
    """Folders whose manifests name loadable models: the package's, then ``$LRFACE_WEIGHTS``."""
    from lrface.settings import user_weights_dir

    folders = [PACKAGE_WEIGHTS]
    env = user_weights_dir()
    if env is not None:
        folders.append(env)
    return folders


def available_weights() -> Dict[str, WeightsEntry]:
    """Every named model with weights, across all manifests (later folders win)."""
    out: Dict[str, WeightsEntry] = {}
    for folder in manifest_folders():
        out.update(read_manifest(folder))
    return out


def default_for_res(res: Optional[int]) -> WeightsEntry:
    """The shipped model that :func:`load_model` picks for an LR size ``res``."""
    entries = available_weights()
    candidates = [e for e in entries.values() if e.meta.get("default_for_res")]
    if res is None:
        picked = [e for e in candidates if e.meta.get("default")]
    else:
        picked = [e for e in candidates if int(res) in [int(r) for r in e.meta["default_for_res"]]]
    if not picked:
        have = ", ".join(sorted(entries)) or "none"
        where = " or ".join(str(f / MANIFEST_NAME) for f in manifest_folders())
        raise WeightsError(
            f"no default model for res={res}: none in {where} declares it (models with weights: {have}). "
            "Pass a model name or a .pt path, or convert a teacher with lrface-convert."
        )
    return picked[-1]  # manifests are read package first, then $LRFACE_WEIGHTS: the user's wins


def list_models(pattern: str = "*", pretrained: bool = False) -> List[str]:
    """Every name :func:`load_model` accepts, matching a shell ``pattern``, sorted.

    Like ``timm.list_models``: by default the registered architectures (``iresnet50``,
    ``lrstudent16``, ...; they load randomly initialised) plus the models with weights named
    in the manifests (shipped ``lrface/weights/MANIFEST.yaml`` and ``$LRFACE_WEIGHTS``). With
    ``pretrained=True``, only the names that come with weights.

    Args:
        pattern: shell-style filter, e.g. ``"lrstudent*"``.
        pretrained: only names with weights.

    Returns:
        Sorted, unique names; ``load_model(name)`` accepts each of them.

    Example:
        >>> import lrface
        >>> "iresnet50" in lrface.list_models("iresnet*")
        True
        >>> all(n in lrface.list_models() for n in lrface.list_models(pretrained=True))
        True
    """
    names = set(available_weights())
    if not pretrained:
        names.update(list_architectures())
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def _resolve(name_or_path: PathLike) -> Tuple[Optional[WeightsEntry], Optional[Path]]:
    """``(entry, path)`` for a name with weights or a file; ``(None, None)`` for an architecture."""
    text = str(name_or_path)
    entries = available_weights()
    if text in entries:
        return entries[text], entries[text].path
    archs = list_architectures()
    if text in archs:
        return None, None
    path = Path(text).expanduser()
    if path.exists():
        for entry in read_manifest(path.parent).values():
            if entry.path.resolve() == path.resolve():
                return entry, path
        return None, path
    close = difflib.get_close_matches(text, list(entries) + archs, n=3, cutoff=0.5)
    close += [n for n in entries if text.lower() in n.lower() and n not in close]
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise WeightsError(
        f"unknown model {text!r}: not a model with weights ({', '.join(sorted(entries)) or 'none installed'}), "
        f"not an architecture (see lrface.list_models()) and not an existing file.{hint}"
    )


def load_state_dict(path: PathLike, sha256: Optional[str] = None, trust: bool = False) -> Dict[str, torch.Tensor]:
    """Load a plain tensor state dict, checking ``sha256`` first when given.

    Raises:
        WeightsError: missing file, sha256 mismatch, or a pickled file without ``trust``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if sha256 is not None:
        got = sha256_file(path)
        if got != sha256:
            raise WeightsError(
                f"sha256 mismatch for {path}: manifest says {sha256[:16]}..., file is {got[:16]}...; "
                "the file is corrupt or was modified. Re-download or re-convert it."
            )
    elif not trust:
        raise WeightsError(
            f"{path} has no manifest entry with a sha256, so it cannot be verified; "
            "add it with lrface-convert, or pass trust=True if you know where it comes from"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError) as e:
        if not trust:
            raise WeightsError(
                f"{path} is not a plain state dict (it needs full unpickling, which can run arbitrary code); "
                "convert it once with `lrface-convert SRC OUT.pt --trust`, or pass trust=True"
            ) from e
        log.warning("loading %s with full unpickling because trust=True", path)
        obj = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("state_dict", "net_state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors")
    return {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}


def load_model(
    name_or_path: Optional[PathLike] = None,
    res: Optional[int] = None,
    *,
    arch: Optional[str] = None,
    trust: bool = False,
    device: Optional[Union[str, torch.device]] = None,
) -> FaceModel:
    """Load a model with its weights, verified, in eval mode.

    Args:
        name_or_path: any name from :func:`list_models` (a model with weights, or an
            architecture, which gives a randomly initialised model and logs a warning), a
            ``.pt`` path, or ``None`` for the shipped default model for ``res``.
        res: low-resolution size (8..32) when picking the default model.
        arch: architecture for a file without a manifest entry (needs ``trust=True``).
        trust: allow unverified files and full unpickling (only for files you trust).
        device: where to put the model (default CPU).

    Returns:
        The model; ``model.weights`` holds its :class:`WeightsEntry` (preprocessing, degradation,
        threshold, provenance), or ``None`` for a randomly initialised architecture.

    Example:
        >>> model = load_model("weights-local/y1.pt")  # doctest: +SKIP
        >>> load_model("lrstudent16").weights is None   # random init, logs a warning
        True
    """
    entry = default_for_res(res) if name_or_path is None else None
    path = entry.path if entry else None
    if entry is None:
        entry, path = _resolve(name_or_path)  # type: ignore[arg-type]
    if entry is None and path is None:  # an architecture name: timm-style random init
        log.warning(
            "%s is an architecture without weights: returning a randomly initialised model, whose "
            "embeddings mean nothing until it is trained (names with weights: lrface.list_models(pretrained=True))",
            name_or_path,
        )
        model = create_model(str(name_or_path))
        model.weights = None  # type: ignore[attr-defined]
        model.eval()
        return model.to(device or "cpu")
    if entry is None:
        if arch is None:
            raise WeightsError(f"{path} has no manifest entry; pass arch=NAME (and trust=True) to load it")
        entry = WeightsEntry(Path(path).stem, Path(path), arch, None, {"arch": arch})
    state = load_state_dict(entry.path, entry.sha256, trust=trust)
    model = create_model(entry.arch, **dict(entry.meta.get("arch_kwargs") or {}))
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        first = str(e).split("\n\t")[1] if "\n\t" in str(e) else str(e)
        raise WeightsError(f"{entry.path} does not fit architecture {entry.arch!r}: {first}") from None
    if missing or unexpected:
        raise WeightsError(
            f"{entry.path} does not fit architecture {entry.arch!r}: "
            f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    if entry.meta:
        model.cfg = entry.cfg if "input_size" in entry.meta else model.cfg
    model.weights = entry  # type: ignore[attr-defined]
    model.eval()
    return model.to(device or "cpu")
