"""The interface every lrface model shares, and the model registry.

Conventions (timm-like): a model is a ``torch.nn.Module`` whose ``forward(x)`` returns the raw
embedding (before L2 normalisation, as insightface's backbones do), ``forward_features(x)``
returns named intermediate taps for distillation, and ``default_cfg`` carries the
preprocessing the weights expect, so callers never hard-code it.

Tap vocabulary (the same names in teachers, assistant and students; details and helpers in
:mod:`lrface.models.taps`), in the order ``forward_features`` returns them:

==================  ============================================================================
``stem``            first feature map (after the stem convolutions)
``stage1..stageK``  output of each later stage; each starts with a stride-2 step, so the
                    reduction doubles from one stage to the next (K >= 2, model-dependent)
``pre_embedding``   last 4-D map, the input of the embedding head
``embedding``       raw embedding ``(N, D)``, what ``forward`` returns
==================  ============================================================================

``model.feature_info`` declares, per tap, ``num_chs``, ``reduction`` (nominal stride w.r.t. the
input; map side ``= ceil(input / reduction)``), ``size`` at the model's ``input_size`` and the
producing ``module``, so losses and adapters are sized without a dummy forward;
``model.feature_info["stage2"]`` looks one up by name.

Input convention: float tensor ``(N, 3, H, W)`` already normalised as ``default_cfg`` says
(for ArcFace-family models RGB ``(x - 127.5) / 128``); :func:`preprocess` does it from uint8.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrface.models.taps import FeatureInfo, TapInfo, tap_size
from lrface.registry import Registry

#: name -> factory(**kwargs) -> FaceModel
MODELS: Registry[Callable[..., "FaceModel"]] = Registry("model")


@dataclass(frozen=True)
class ModelCfg:
    """Preprocessing and shape facts that travel with a model (and with its weights)."""

    input_size: Tuple[int, int] = (112, 112)  # (h, w)
    embedding_size: int = 512
    channel_order: str = "RGB"
    mean: Tuple[float, float, float] = (127.5, 127.5, 127.5)  # on the 0..255 scale
    std: Tuple[float, float, float] = (128.0, 128.0, 128.0)  # 1/128 = 0.0078125
    template: str = "arcface_112"  # "arcface_112" | "arcface_112x96"
    role: str = "teacher"  # "teacher" | "assistant" | "student"

    def with_(self, **kw: Any) -> "ModelCfg":
        return replace(self, **kw)

    def as_dict(self) -> Dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


class FaceModel(nn.Module):
    """Base class: subclasses set ``self.cfg`` and implement ``forward_features``/``forward``."""

    cfg: ModelCfg

    @property
    def embedding_size(self) -> int:
        return self.cfg.embedding_size

    @property
    def input_size(self) -> Tuple[int, int]:
        return self.cfg.input_size

    @property
    def default_cfg(self) -> Dict[str, Any]:
        return self.cfg.as_dict()

    def tap_specs(self) -> Sequence[Tuple[str, int, Optional[int], str]]:
        """``(name, num_chs, reduction, module)`` per tap, in ``forward_features`` order;
        ``reduction`` is ``None`` for the embedding vector. Subclasses derive it from their
        architecture (never from a forward pass)."""
        raise NotImplementedError

    def map_size(self, reduction: int) -> Tuple[int, int]:
        """``(h, w)`` of a map at ``reduction`` for ``input_size``: 'same'-padded stride-2 steps
        (:func:`lrface.models.taps.tap_size`) unless the architecture pads otherwise."""
        return tap_size(self.input_size, reduction)

    @property
    def feature_info(self) -> FeatureInfo:
        """Shape metadata of every tap at ``input_size`` (see :mod:`lrface.models.taps`)."""
        return FeatureInfo(
            TapInfo(name, int(c), r, None if r is None else self.map_size(r), module)
            for name, c, r, module in self.tap_specs()
        )

    def forward_features(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Named taps ``stem, stage1..stageK, pre_embedding, embedding`` (see ``feature_info``)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, D)
        return self.forward_features(x)["embedding"]

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-norm embeddings (N, D)."""
        return F.normalize(self.forward(x), dim=1)


def preprocess(images: np.ndarray | torch.Tensor, cfg: ModelCfg) -> torch.Tensor:
    """uint8 RGB ``(N, H, W, 3)`` (numpy) or ``(N, 3, H, W)`` (tensor) -> normalised float NCHW."""
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            images = images[None]
        arr = np.ascontiguousarray(images)
        if not arr.flags.writeable:  # a read-only memmap (face packs): torch wants its own copy
            arr = arr.copy()
        t = torch.from_numpy(arr).permute(0, 3, 1, 2)
    else:
        t = images if images.dim() == 4 else images[None]
    t = t.float()
    if cfg.channel_order == "BGR":
        t = t.flip(1)
    mean = torch.tensor(cfg.mean, dtype=t.dtype, device=t.device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, dtype=t.dtype, device=t.device).view(1, 3, 1, 1)
    return (t - mean) / std


def create_model(name: str, **kwargs: Any) -> FaceModel:
    """Build a registered model by name, e.g. ``create_model("iresnet50")``."""
    _import_all()
    return MODELS.get(name)(**kwargs)


def list_models(pattern: str = "*") -> List[str]:
    """Registered model names matching a shell pattern, e.g. ``list_models("student*")``."""
    _import_all()
    return MODELS.names(pattern)


def _import_all() -> None:
    """Import the modules that register models (kept lazy: nothing happens on import)."""
    import importlib

    for mod in ("iresnet", "mobilefacenet", "students", "dlib_resnet"):
        try:
            importlib.import_module(f"lrface.models.{mod}")
        except ModuleNotFoundError as e:  # a family not written yet must not break the others
            if e.name != f"lrface.models.{mod}":
                raise
