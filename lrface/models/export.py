"""Deployment helpers: BatchNorm folding, channels-last, guarded ``torch.compile``, ONNX.

Typical CPU deployment of a student:

    >>> from lrface.models import create_model
    >>> m = to_channels_last(fold_bn(create_model("lrstudent16").eval()))
    >>> x = torch.zeros(8, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    >>> m(x).shape
    torch.Size([8, 128])

ONNX needs the optional extra (``pip install lrface[onnx]``: onnx, onnxruntime):

    >>> path = export_onnx(m, "student16.onnx")                   # doctest: +SKIP
    >>> OnnxEmbedder(path).embed(x.numpy()).shape                # doctest: +SKIP
    (8, 128)
"""
from __future__ import annotations

import copy
import importlib.util
import json
import logging
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.fx
from torch import nn

from lrface.models.base import ModelCfg

logger = logging.getLogger(__name__)

__all__ = [
    "fold_bn", "to_channels_last", "maybe_compile", "export_onnx", "OnnxEmbedder", "onnx_available",
]

_BN = nn.modules.batchnorm._BatchNorm


# --------------------------------------------------------------------------- BN folding
def _pairs_from_fx(model: nn.Module) -> List[Tuple[str, str]]:
    """(producer, bn) module names where the BN's only input is a Conv2d/Linear output used
    by nothing else, found on the traced graph (so any forward structure works, not only
    Sequential chains)."""
    gm = torch.fx.symbolic_trace(model)
    modules = dict(model.named_modules())
    calls: Dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = []
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), _BN):
            continue
        prev = node.args[0] if node.args else None
        if not isinstance(prev, torch.fx.Node) or prev.op != "call_module" or len(prev.users) != 1:
            continue
        # A module called twice (weight sharing) cannot be rewritten for one call site.
        if calls.get(prev.target) != 1 or calls.get(node.target) != 1:
            continue
        if isinstance(modules.get(prev.target), (nn.Conv2d, nn.Linear)):
            pairs.append((prev.target, node.target))
    return pairs


def _find_pairs(model: nn.Module, prefix: str = "") -> List[Tuple[str, str]]:
    """Trace ``model``; where that fails (data-dependent checks, ModuleLists, ...) trace each
    child instead, so one untraceable ``forward`` only hides the pairs it wires itself."""
    try:
        return [(prefix + a, prefix + b) for a, b in _pairs_from_fx(model)]
    except Exception as e:  # noqa: BLE001 - any tracing failure means: look one level down
        logger.debug("fold_bn: cannot trace %s (%s); trying its children", prefix or "model", type(e).__name__)
    pairs: List[Tuple[str, str]] = []
    if isinstance(model, nn.Sequential):
        # Sequential children are chained by construction, even when one of them is opaque.
        kids = list(model.named_children())
        for (n1, a), (n2, b) in zip(kids, kids[1:]):
            if isinstance(a, (nn.Conv2d, nn.Linear)) and isinstance(b, _BN):
                pairs.append((prefix + n1, prefix + n2))
    for name, child in model.named_children():
        if any(True for _ in child.children()):  # leaves hold no pairs
            pairs += _find_pairs(child, f"{prefix}{name}.")
    return pairs


def _fold_pair(layer: nn.Module, bn: _BN) -> bool:
    out = layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features
    if bn.running_mean is None or bn.num_features != out:
        return False  # BN without running stats (or mismatched) cannot be folded
    with torch.no_grad():
        scale = (bn.running_var + bn.eps).rsqrt()
        if bn.weight is not None:
            scale = scale * bn.weight
        shift = -bn.running_mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias
        w = layer.weight
        layer.weight.copy_(w * scale.view(-1, *([1] * (w.dim() - 1))).to(w.dtype))
        bias = layer.bias if layer.bias is not None else torch.zeros_like(shift)
        new_bias = (bias * scale + shift).to(w.dtype)
        layer.bias = nn.Parameter(new_bias, requires_grad=layer.weight.requires_grad)
    return True


def _set_module(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def fold_bn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Fold eval-mode BatchNorm into the preceding Conv2d/Linear; for inference only.

    ``BN(W x + b) = (W * g) x + ((b - mu) * g + beta)`` with ``g = gamma / sqrt(var + eps)``.
    Pairs are found on the ``torch.fx`` graph (a BN whose sole input is a conv/linear output
    used nowhere else); a module whose ``forward`` cannot be traced is searched child by child
    (and adjacent pairs inside an ``nn.Sequential`` are taken as chained). Folded BNs become ``nn.Identity``, so the model keeps its
    class, ``cfg`` and ``forward_features``. BN *before* a conv (pre-activation blocks) is
    left alone: zero padding would see the BN shift wrongly.

    Args:
        model: the model (its BN running statistics are used).
        inplace: modify ``model`` itself instead of a deep copy.

    Returns:
        the folded model, in eval mode.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
        >>> fold_bn(net)[1]
        Identity()
    """
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    pairs = _find_pairs(model)
    n = 0
    for layer_name, bn_name in pairs:
        if _fold_pair(model.get_submodule(layer_name), model.get_submodule(bn_name)):
            _set_module(model, bn_name, nn.Identity())
            n += 1
    logger.debug("fold_bn: folded %d BatchNorm layers", n)
    return model


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convert 4-D weights to channels-last (NHWC) memory format, in place.

    oneDNN convolutions avoid layout reorders in NHWC, which matters most for the stem
    (3 input channels) and small maps; feed inputs with
    ``x.contiguous(memory_format=torch.channels_last)`` too.

    Args:
        model: any module.

    Returns:
        the same module.
    """
    return model.to(memory_format=torch.channels_last)


def maybe_compile(model: nn.Module, example: Optional[torch.Tensor] = None, **kwargs: Any) -> nn.Module:
    """``torch.compile(model)`` if it works here, else the eager model with a warning.

    Compilation is lazy, so the model is run once on ``example`` (default: zeros at batch 2
    and ``model.input_size``) to surface failures (no C++ compiler, unsupported ops, ...) now
    rather than at the caller's first batch.

    Args:
        model: module to compile (use eval mode for inference).
        example: an input to trigger compilation; None and no ``input_size``: not checked.
        **kwargs: passed to ``torch.compile`` (e.g. ``mode="max-autotune"``).

    Returns:
        the compiled module, or ``model`` itself when compilation is unavailable or fails.
    """
    if not hasattr(torch, "compile"):
        warnings.warn("torch.compile is unavailable in this torch; using the eager model", stacklevel=2)
        return model
    if example is None and getattr(model, "input_size", None) is not None:
        p = next(iter(model.parameters()), None)
        example = torch.zeros(2, 3, *model.input_size, dtype=p.dtype if p is not None else torch.float32)
    try:
        compiled = torch.compile(model, **kwargs)
        if example is not None:
            with torch.no_grad():
                compiled(example)
        return compiled
    except Exception as e:  # noqa: BLE001 - any compiler failure falls back to eager
        warnings.warn(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); using the eager model", stacklevel=2)
        return model


# --------------------------------------------------------------------------------- ONNX
def onnx_available() -> bool:
    """True when both ``onnx`` and ``onnxruntime`` are importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


def export_onnx(
    model: nn.Module,
    path: Union[str, Path],
    input_size: Optional[Tuple[int, int]] = None,
    dynamic_batch: bool = True,
    opset: int = 17,
    exporter: str = "auto",
) -> Path:
    """Export ``model.forward`` (raw embeddings) to ONNX, with the model cfg as metadata.

    Args:
        model: the model (exported in eval mode; fold BN first for a smaller graph, though
            ONNX Runtime folds Conv+BN itself).
        path: output ``.onnx`` file.
        input_size: ``(H, W)``; defaults to ``model.input_size``.
        dynamic_batch: make the batch dimension symbolic (``"batch"``).
        opset: ONNX opset version.
        exporter: ``"torchscript"`` (the tracing exporter: fast, needs no onnxscript),
            ``"dynamo"`` (``torch.export`` based; needs onnxscript), or ``"auto"``
            (torchscript when this torch still has it, else dynamo).

    Returns:
        the path written. Input name ``"input"``, output name ``"embedding"``; the metadata
        key ``"lrface_cfg"`` holds ``model.cfg`` as JSON when the model has one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = input_size or getattr(model, "input_size", None)
    if size is None:
        raise ValueError("input_size is required for a model without .input_size")
    was_training = model.training
    model.eval()
    p = next(iter(model.parameters()), None)
    dummy = torch.zeros(2, 3, *size, dtype=p.dtype if p is not None else torch.float32)
    try:
        if exporter in ("auto", "torchscript"):
            try:
                _export_torchscript(model, dummy, path, dynamic_batch, opset)
            except TypeError:  # a torch without the legacy exporter (no ``dynamo=`` switch)
                if exporter == "torchscript":
                    raise
                _export_dynamo(model, dummy, path, dynamic_batch, opset)
        elif exporter == "dynamo":
            _export_dynamo(model, dummy, path, dynamic_batch, opset)
        else:
            raise ValueError(f"unknown exporter {exporter!r}: use 'auto', 'torchscript' or 'dynamo'")
    finally:
        model.train(was_training)
    cfg = getattr(model, "cfg", None)
    if isinstance(cfg, ModelCfg) and importlib.util.find_spec("onnx") is not None:
        import onnx

        proto = onnx.load(str(path))
        entry = proto.metadata_props.add()
        entry.key, entry.value = "lrface_cfg", json.dumps(cfg.as_dict())
        onnx.save(proto, str(path))
    return path


def _export_torchscript(model: nn.Module, dummy: torch.Tensor, path: Path, dynamic: bool, opset: int) -> None:
    axes = {"input": {0: "batch"}, "embedding": {0: "batch"}} if dynamic else None
    with warnings.catch_warnings():
        # The tracing exporter is deprecated in favour of dynamo but still exact and ~50x
        # faster to run; silence its deprecation and tracer chatter.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (dummy,), str(path), input_names=["input"], output_names=["embedding"],
            dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False,
        )


def _export_dynamo(model: nn.Module, dummy: torch.Tensor, path: Path, dynamic: bool, opset: int) -> None:
    shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (dummy,), str(path), input_names=["input"], output_names=["embedding"],
            dynamic_shapes=shapes, opset_version=opset, dynamo=True, verbose=False,
        )


class OnnxEmbedder:
    """Run an exported model with ONNX Runtime (CPU by default), mirroring ``FaceModel``.

    Args:
        path: ``.onnx`` file written by :func:`export_onnx`.
        threads: intra-op threads (None: ONNX Runtime's default, all physical cores).
        providers: ONNX Runtime execution providers (default ``["CPUExecutionProvider"]``).
        allow_spinning: let idle worker threads busy-wait for the next run (ONNX Runtime's
            default: lower latency, but the spinning steals CPU from anything else running,
            e.g. the next model in an interleaved benchmark).

    Attributes:
        cfg: the exported model's :class:`ModelCfg` when present in the metadata, else None.

    Example:
        >>> emb = OnnxEmbedder("student16.onnx", threads=2)      # doctest: +SKIP
        >>> emb.embed(np.zeros((4, 3, 16, 16), np.float32)).shape # doctest: +SKIP
        (4, 128)
    """

    def __init__(self, path: Union[str, Path], threads: Optional[int] = None,
                 providers: Optional[List[str]] = None, allow_spinning: bool = True) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("OnnxEmbedder needs onnxruntime: pip install 'lrface[onnx]'") from e
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        if not allow_spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        self.cfg: Optional[ModelCfg] = None
        if "lrface_cfg" in meta:
            d = json.loads(meta["lrface_cfg"])
            self.cfg = ModelCfg(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def forward(self, x: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
        """Raw embeddings ``(N, D)`` float32 for a normalised ``(N, 3, H, W)`` batch."""
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().contiguous().numpy()
        x = np.ascontiguousarray(x, dtype=np.float32)
        return self.session.run(None, {self.input_name: x})[0]

    __call__ = forward

    def embed(self, x: Union[np.ndarray, torch.Tensor]) -> np.ndarray:
        """Unit-norm embeddings ``(N, D)`` float32."""
        e = self.forward(x)
        return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
