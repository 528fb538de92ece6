"""Import teacher weights: dlib's face ResNet, insightface MXNet models, arcface_torch
backbones, legacy pickles.

Four source kinds, detected by :func:`detect_source_kind` and handled by :func:`convert`:

``dlib``
    dlib's DNN serialisation (``dlib_face_recognition_resnet_model_v1.dat``, public domain),
    read with numpy by :mod:`lrface.models.dlib_io` and checked layer by layer against
    :mod:`lrface.models.dlib_resnet` (no dlib needed).

``mxnet``
    a folder or prefix with ``*-symbol.json`` (the graph) and ``*-NNNN.params`` (weights),
    read without mxnet by :mod:`lrface.models.mxnet_io` (re-exported here:
    :func:`read_mxnet_params`, :func:`read_mxnet_symbol`, :func:`run_mxnet_graph`).
    :func:`convert_mxnet` maps graph nodes onto our modules by name (graph node ``a_b_c`` is
    module ``a.b.c``) and checks each layer's hyper-parameters.
``torch``
    a file that loads with ``torch.load(weights_only=True)`` (e.g. arcface_torch's
    ``backbone.pth``): the restricted unpickler cannot run code, so no trust is needed.
``legacy``
    any other pickled checkpoint. Unpickling can execute arbitrary code embedded in the file,
    so :func:`convert_legacy_checkpoint` refuses unless the caller passes ``trust=True``.
"""
from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from lrface.errors import WeightsError
from lrface.models.base import ModelCfg, create_model
from lrface.models.mxnet_io import (  # noqa: F401  (re-exported: part of this module's API)
    GRAPH_OPS,
    attr_flag,
    attr_tuple,
    read_mxnet_params,
    read_mxnet_symbol,
    run_mxnet_graph,
)

log = logging.getLogger(__name__)

PathLike = Union[str, Path]
StateDict = Dict[str, torch.Tensor]

#: keys under which checkpoints commonly nest their state dict
_WRAPPER_KEYS = ("net_state_dict", "state_dict", "model_state_dict", "model", "net", "backbone")

# ----------------------------------------------------------------------------------------------
# MXNet -> our modules
# ----------------------------------------------------------------------------------------------

#: graph op -> (module type it must map to, our parameter names in the order of the op's inputs)
_PARAM_SLOTS: Dict[str, Tuple[type, Tuple[str, ...]]] = {
    "Convolution": (nn.Conv2d, ("weight", "bias")),
    "BatchNorm": (nn.modules.batchnorm._BatchNorm, ("weight", "bias", "running_mean", "running_var")),
    "LeakyReLU": (nn.PReLU, ("weight",)),
    "FullyConnected": (nn.Linear, ("weight", "bias")),
}


def resolve_mxnet_files(prefix_or_folder: PathLike) -> Tuple[Path, Path]:
    """Find ``(symbol.json, params)`` for a folder, a prefix, or either file's path.

    Args:
        prefix_or_folder: ``dir/`` holding one ``*-symbol.json``, a prefix ``dir/model``, or
            ``dir/model-symbol.json`` / ``dir/model-0000.params``.

    Returns:
        The symbol file and the params file (the highest epoch when there are several).

    Raises:
        WeightsError: nothing or something ambiguous found.
    """
    src = Path(prefix_or_folder)
    if src.is_dir():
        symbols = sorted(src.glob("*-symbol.json"))
        if len(symbols) != 1:
            raise WeightsError(f"{src}: expected exactly one *-symbol.json, found {[p.name for p in symbols]}")
        prefix = symbols[0].with_name(symbols[0].name[: -len("-symbol.json")])
    elif src.name.endswith("-symbol.json"):
        prefix = src.with_name(src.name[: -len("-symbol.json")])
    elif src.suffix == ".params":
        prefix = src.with_name(re.sub(r"-\d+\.params$", "", src.name))
    else:
        prefix = src
    symbol = prefix.with_name(prefix.name + "-symbol.json")
    if not symbol.is_file():
        raise WeightsError(f"MXNet model not found: {symbol} does not exist")
    if src.suffix == ".params":
        return symbol, src
    epochs = sorted(
        (int(m.group(1)), p)
        for p in prefix.parent.glob(prefix.name + "-*.params")
        if (m := re.fullmatch(re.escape(prefix.name) + r"-(\d+)\.params", p.name))
    )
    if not epochs:
        raise WeightsError(f"MXNet model {prefix}: no {prefix.name}-NNNN.params beside {symbol.name}")
    if len(epochs) > 1:
        log.info("%s: several epochs, using %s", prefix, epochs[-1][1].name)
    return symbol, epochs[-1][1]


def _graph_scaling(nodes: List[Dict[str, Any]]) -> Optional[Tuple[float, float]]:
    """``(mean, std)`` of the graph's own input scaling ``(x - mean) * (1/std)``, if any."""
    mean, mul = 0.0, None
    for node in nodes:
        if node["op"] == "_minus_scalar":
            if mul is not None:
                raise WeightsError("graph scales its input before subtracting the mean: unsupported layout")
            mean = float(node["attrs"]["scalar"])
        elif node["op"] == "_mul_scalar":
            mul = float(node["attrs"]["scalar"])
        elif node["op"] not in ("null",):
            break  # only the chain before the first real layer is preprocessing
    if mul is None and mean == 0.0:
        return None
    return mean, (1.0 / mul if mul else 1.0)


def _check_layer(node: Dict[str, Any], module: nn.Module) -> None:
    """Refuse a mapping whose layer hyper-parameters differ (one-to-one means same layer)."""
    a, name = node["attrs"], node["name"]
    if isinstance(module, nn.Conv2d):
        want = (attr_tuple(a, "kernel", ()), attr_tuple(a, "stride", (1, 1)), attr_tuple(a, "pad", (0, 0)),
                int(a.get("num_group", 1)), int(a["num_filter"]))
        have = (module.kernel_size, module.stride, module.padding, module.groups, module.out_channels)
        if want != tuple(have):
            raise WeightsError(f"{name}: graph (kernel, stride, pad, groups, filters) {want} != module {have}")
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        eps = float(a.get("eps", 1e-3))
        if abs(eps - module.eps) > 1e-12:
            raise WeightsError(f"{name}: graph BatchNorm eps {eps} != module eps {module.eps}")
    elif isinstance(module, nn.Linear) and int(a["num_hidden"]) != module.out_features:
        raise WeightsError(f"{name}: graph num_hidden {a['num_hidden']} != module {module.out_features}")


def convert_mxnet(prefix_or_folder: PathLike, arch: str = "mobilefacenet_y1") -> Tuple[StateDict, ModelCfg]:
    """Convert an insightface MXNet model to a state dict of a registered architecture.

    Every parameterised graph node ``a_b_c`` must be a module ``a.b.c`` of the same type and
    hyper-parameters; its inputs map in order onto (weight, bias) for Convolution and
    FullyConnected, (weight, bias, running_mean, running_var) for BatchNorm (gamma is set to 1
    where ``fix_gamma`` is true, as MXNet does at run time) and weight for PReLU.

    Args:
        prefix_or_folder: see :func:`resolve_mxnet_files`.
        arch: registered model name whose module tree mirrors the graph.

    Returns:
        ``(state_dict, cfg)``; ``cfg`` takes mean/std from the graph's own input scaling.

    Raises:
        WeightsError: files missing or corrupt, or graph and architecture disagree.

    Example:
        >>> sd, cfg = convert_mxnet("teachers/mobilefacenet_y1")  # doctest: +SKIP
        >>> model = create_model("mobilefacenet_y1"); model.load_state_dict(sd)  # doctest: +SKIP
    """
    symbol, params_path = resolve_mxnet_files(prefix_or_folder)
    nodes = read_mxnet_symbol(symbol)
    params = read_mxnet_params(params_path)
    model = create_model(arch)
    template = model.state_dict()
    modules = {name.replace(".", "_"): (name, m) for name, m in model.named_modules() if name}
    out: StateDict = {}
    used = set()
    for node in nodes:
        op, name = node["op"], node["name"]
        if op in ("null", "_minus_scalar", "_mul_scalar", "elemwise_add"):
            continue
        if op not in _PARAM_SLOTS:
            raise WeightsError(f"unsupported MXNet operator {op!r} (node {name!r})")
        mtype, slots = _PARAM_SLOTS[op]
        if name not in modules or not isinstance(modules[name][1], mtype):
            raise WeightsError(f"graph node {name!r} ({op}) has no {mtype.__name__} module in {arch!r} "
                               "whose dotted path, dots read as underscores, equals the node name")
        path, module = modules[name]
        _check_layer(node, module)
        for slot, (src, _, _) in zip(slots, node["inputs"][1:]):
            pname, key = nodes[src]["name"], f"{path}.{slot}"
            if pname not in params:
                raise WeightsError(f"{params_path}: parameter {pname!r} of node {name!r} is missing")
            if key not in template:
                raise WeightsError(f"graph node {name!r} has {pname!r} but {arch!r} has no {key!r}")
            value = torch.from_numpy(params[pname].astype(np.float32))
            if op == "BatchNorm" and slot == "weight" and attr_flag(node["attrs"], "fix_gamma", True):
                value = torch.ones_like(value)
            if value.shape != template[key].shape:
                raise WeightsError(f"{pname}: shape {tuple(value.shape)} != {key} {tuple(template[key].shape)}")
            out[key] = value
            used.add(pname)
        if op == "BatchNorm" and f"{path}.num_batches_tracked" in template:
            out[f"{path}.num_batches_tracked"] = torch.zeros((), dtype=torch.long)
    missing = sorted(set(template) - set(out))
    if missing:
        raise WeightsError(f"{arch!r} keys not provided by the graph: {missing[:8]}{'...' if len(missing) > 8 else ''}")
    unused = sorted(set(params) - used)
    if unused:  # e.g. a training-time classifier saved alongside the backbone
        log.info("%s: %d parameters not used by the graph: %s", params_path, len(unused), unused[:5])
    model.load_state_dict(out, strict=True)
    cfg = model.cfg
    scaling = _graph_scaling(nodes)
    if scaling is not None and (scaling[0], scaling[1]) != (cfg.mean[0], cfg.std[0]):
        log.warning("graph input scaling mean=%g std=%g differs from %s defaults; using the graph's", *scaling, arch)
        cfg = cfg.with_(mean=(scaling[0],) * 3, std=(scaling[1],) * 3)
    return out, cfg


# ----------------------------------------------------------------------------------------------
# PyTorch checkpoints
# ----------------------------------------------------------------------------------------------


def extract_state_dict(obj: Any, source: str = "checkpoint") -> StateDict:
    """The plain tensor state dict inside a loaded checkpoint.

    Handles bare state dicts, ``{'net_state_dict'|'state_dict'|'model_state_dict'|'model'|
    'net'|'backbone': ...}`` wrappers, whole pickled modules, and DataParallel ``module.``
    prefixes. Floating tensors become float32 (arcface_torch may train in fp16).

    Args:
        obj: what ``torch.load`` returned.
        source: name used in error messages.

    Returns:
        name -> detached CPU tensor.

    Raises:
        WeightsError: no state dict found.
    """
    for _ in range(4):  # wrappers nest at most a couple of levels in practice
        if isinstance(obj, nn.Module):
            obj = obj.state_dict()
        if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj, dict) and k in obj), None)
        if inner is None:
            keys = list(obj)[:8] if isinstance(obj, dict) else type(obj).__name__
            raise WeightsError(f"{source}: no state dict of tensors found (top level: {keys})")
        obj = inner
    else:
        raise WeightsError(f"{source}: no state dict of tensors found")
    out: StateDict = {}
    for k, v in obj.items():
        key = k[len("module."):] if k.startswith("module.") else k
        t = v.detach().cpu()
        out[key] = (t.float() if t.is_floating_point() else t).clone()
    return out


def infer_arch(state: StateDict) -> Optional[str]:
    """Guess the registered architecture from key names (``None`` when unknown)."""
    if "linear7.conv.weight" in state:
        return "mobilefacenet_casia"
    if "conv_6dw7_7.conv2d.weight" in state:
        return "mobilefacenet_y1"
    if "features.weight" in state and "layer1.0.bn1.weight" in state:
        from lrface.models.iresnet import IRESNET_LAYERS

        counts = [1 + max((int(m.group(1)) for k in state if (m := re.match(rf"layer{i}\.(\d+)\.", k))), default=-1)
                  for i in range(1, 5)]
        return next((f"iresnet{d}" for d, layers in IRESNET_LAYERS.items() if layers == counts), None)
    return None


def _fit(state: StateDict, arch: Optional[str], source: str) -> Tuple[StateDict, str]:
    """Check ``state`` against ``arch`` (inferred when ``None``): same keys, same shapes."""
    arch = arch or infer_arch(state)
    if arch is None:
        raise WeightsError(f"{source}: cannot tell the architecture from its keys; pass arch=NAME")
    model = create_model(arch)
    template = model.state_dict()
    missing = [k for k in template if k not in state]
    unexpected = [k for k in state if k not in template]
    bad = [f"{k}: {tuple(v.shape)} vs {tuple(template[k].shape)}"
           for k, v in state.items() if k in template and v.shape != template[k].shape]
    if missing or unexpected or bad:
        raise WeightsError(
            f"{source} does not fit {arch!r}: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, wrong shapes {bad[:5]}"
        )
    model.load_state_dict(state, strict=True)  # the definitive check
    return state, arch


def _safe_load(path: Path) -> Any:
    """``torch.load`` with the restricted unpickler (cannot execute code)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def convert_arcface_torch(path: PathLike, arch: Optional[str] = None) -> StateDict:
    """Convert an arcface_torch ``backbone.pth`` (or any plain state-dict file).

    Args:
        path: file that loads with ``torch.load(weights_only=True)``.
        arch: registered name, e.g. ``"iresnet50"``; inferred from the keys when ``None``.

    Returns:
        The state dict, verified to load strictly into ``arch``.

    Raises:
        WeightsError: missing file, a file needing full unpickling, or keys/shapes that do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        obj = _safe_load(path)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        raise WeightsError(
            f"{path} does not load with the safe loader (weights_only=True): {(str(e).splitlines() or [type(e).__name__])[0]}. "
            "If it is a legacy pickled checkpoint from a source you trust, use "
            "convert_legacy_checkpoint(path, arch, trust=True)"
        ) from None
    return _fit(extract_state_dict(obj, str(path)), arch, str(path))[0]


def convert_legacy_checkpoint(path: PathLike, arch: Optional[str] = None, trust: bool = False) -> StateDict:
    """Extract a plain state dict from a pickled checkpoint (e.g. ``{'epoch', 'net_state_dict'}``).

    Unpickling can run arbitrary code embedded in the file, so this refuses unless ``trust``
    is true. Even then the restricted loader is tried first and full unpickling is used only
    when it fails. Convert once, then use the resulting plain ``.pt``.

    Args:
        path: the checkpoint.
        arch: registered name to verify against (inferred from the keys when ``None``).
        trust: you vouch for the file's origin.

    Returns:
        The state dict, verified to load strictly into ``arch``.

    Raises:
        WeightsError: ``trust`` not given, unreadable file, or keys/shapes that do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if not trust:
        raise WeightsError(
            f"{path} is a pickled checkpoint; unpickling can execute arbitrary code hidden in the file. "
            "Pass trust=True (lrface-convert --trust) only for files from a source you trust, or use "
            "convert() which takes the safe weights_only path when the file allows it"
        )
    try:
        obj = _safe_load(path)
    except Exception:  # noqa: BLE001 - any failure here just means "needs the full unpickler"
        log.warning("%s: loading with full unpickling (weights_only=False) because trust=True", path)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # noqa: BLE001 - report any unpickling failure the same way
            raise WeightsError(f"{path}: cannot unpickle ({type(e).__name__}: {e})") from None
    return _fit(extract_state_dict(obj, str(path)), arch, str(path))[0]


# ----------------------------------------------------------------------------------------------
# Auto-detection
# ----------------------------------------------------------------------------------------------


class Conversion(NamedTuple):
    """Result of :func:`convert`."""

    state_dict: StateDict
    cfg: ModelCfg
    arch: str
    kind: str  # "mxnet" | "torch" | "legacy" | "dlib"


def detect_source_kind(src: PathLike) -> str:
    """``"dlib"`` (dlib's DNN ``.dat``), ``"mxnet"``, ``"torch"`` (loads with
    ``weights_only=True``) or ``"legacy"`` (needs trust).

    Raises:
        WeightsError: nothing there, or not a file format we know.
    """
    p = Path(src)
    if p.suffix == ".dat" and p.is_file():
        from lrface.models.dlib_io import is_dlib_dnn

        if is_dlib_dnn(p):
            return "dlib"
        raise WeightsError(f"{p}: a .dat file that is not a dlib metric-loss network (only dlib's face "
                           "recognition ResNet is supported; landmark and detector models are not networks to embed)")
    if p.is_dir() or p.name.endswith("-symbol.json") or p.suffix == ".params" or (
        not p.exists() and p.with_name(p.name + "-symbol.json").is_file()
    ):
        return "mxnet"
    if not p.is_file():
        raise WeightsError(f"weights source not found: {p}")
    with open(p, "rb") as f:
        head = f.read(4)
    # torch files are zip archives ("PK") or, in the legacy format, a pickle (protocol opcode 0x80)
    if not (head.startswith(b"PK") or head[:1] == b"\x80"):
        raise WeightsError(f"{p}: not an MXNet model, a torch file or a pickle")
    try:
        _safe_load(p)
        return "torch"
    except Exception:  # noqa: BLE001 - whatever the safe loader rejects needs full unpickling
        return "legacy"


def convert(src: PathLike, arch: Optional[str] = None, trust: bool = False) -> Conversion:
    """Convert any supported teacher source to a plain state dict plus its preprocessing.

    Args:
        src: MXNet folder/prefix, ``.pth``/``.pt`` state dict, or legacy pickle.
        arch: registered architecture; default ``mobilefacenet_y1`` for MXNet, inferred otherwise.
        trust: allow full unpickling of legacy checkpoints.

    Returns:
        :class:`Conversion` ``(state_dict, cfg, arch, kind)``.

    Example:
        >>> conv = convert("068.ckpt")  # doctest: +SKIP
        >>> torch.save(conv.state_dict, "casia.pt")  # doctest: +SKIP
    """
    kind = detect_source_kind(src)
    if kind == "dlib":
        from lrface.models.dlib_resnet import from_dlib

        if arch not in (None, "dlib_resnet_v1"):
            raise WeightsError(f"{src} is dlib's face ResNet: --arch must be dlib_resnet_v1, not {arch!r}")
        state, cfg = from_dlib(str(src))
        return Conversion(state, cfg, "dlib_resnet_v1", kind)
    if kind == "mxnet":
        arch = arch or "mobilefacenet_y1"
        state, cfg = convert_mxnet(src, arch)
        return Conversion(state, cfg, arch, kind)
    if kind == "torch":
        state, arch = _fit(extract_state_dict(_safe_load(Path(src)), str(src)), arch, str(src))
    else:
        state = convert_legacy_checkpoint(src, arch, trust=trust)
        arch = arch or infer_arch(state)
    return Conversion(state, create_model(arch).cfg, arch, kind)  # type: ignore[arg-type]
