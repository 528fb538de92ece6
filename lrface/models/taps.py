"""The tap vocabulary shared by every model, its shape metadata, and adapters sized from it.

Every :class:`~lrface.models.base.FaceModel` names the tensors of ``forward_features(x)`` with
one vocabulary (docs/design.md, convention 13), in this order:

``stem``
    the first feature map, after the stem convolutions (and any stem residual blocks).
``stage1`` .. ``stageK``
    the output of each later stage; every stage *starts with a stride-2 step*, so
    ``reduction(stage k) == 2 * reduction(stage k-1)`` (``stage1`` is twice the stem's).
    ``K`` differs per model (at least 2 everywhere).
``pre_embedding``
    the last 4-D map, the one the embedding head consumes (for IResNet and the compact nets
    the same tensor as ``stageK``; for MobileFaceNet the 512-channel 1x1 expansion before the
    global depthwise conv).
``embedding``
    the raw embedding ``(N, D)`` (what ``forward`` returns).

:data:`CORE_TAPS` (``stem, stage1, stage2, pre_embedding, embedding``) exist in *every* model;
deeper ``stage3..`` only where the model has them. Shapes come from ``model.feature_info``, a
:class:`FeatureInfo` tuple of :class:`TapInfo` (like timm's ``feature_info``: ``num_chs``,
``reduction``, ``module``), computed from the architecture, not from a forward pass.

``reduction`` is the nominal stride relative to the model input; with stride-2 3x3 convs
padded by 1 a side of ``s`` becomes ``ceil(s / 2)``, so the map side is
``ceil(input / reduction)`` (e.g. 20 px at reduction 8 gives 3, not 2.5).

Example:
    >>> from lrface.models import create_model
    >>> info = create_model("lrstudent16").feature_info
    >>> info["pre_embedding"].num_chs, info["pre_embedding"].size
    (128, (2, 2))
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CORE_TAPS", "TapInfo", "FeatureInfo", "feature_info", "needs_adapter", "make_adapter",
    "Resample", "tap_size",
]

#: Taps every registered model provides (``stage3..`` are model-dependent extras).
CORE_TAPS: Tuple[str, ...] = ("stem", "stage1", "stage2", "pre_embedding", "embedding")


def tap_size(input_size: Sequence[int], reduction: int) -> Tuple[int, int]:
    """Map side(s) after ``log2(reduction)`` stride-2 'same'-padded steps: ``ceil(input / r)``."""
    return tuple(-(-int(s) // int(reduction)) for s in input_size)  # type: ignore[return-value]


@dataclass(frozen=True)
class TapInfo:
    """Shape facts of one tap at the model's input size.

    Attributes:
        name: tap name (see the module docstring).
        num_chs: channels of a map, or ``D`` for the ``embedding`` vector.
        reduction: nominal stride w.r.t. the input (``None`` for the embedding vector).
        size: ``(h, w)`` of the map for the model's ``input_size`` (``None`` for vectors).
        module: dotted name of the submodule whose output the tap is
            (``model.get_submodule(module)``), for forward hooks.
    """

    name: str
    num_chs: int
    reduction: Optional[int]
    size: Optional[Tuple[int, int]]
    module: str

    @property
    def is_map(self) -> bool:
        """True for a ``(N, C, h, w)`` map, False for an ``(N, D)`` vector."""
        return self.size is not None

    @property
    def shape(self) -> Tuple[int, ...]:
        """Per-sample shape: ``(C, h, w)`` for maps, ``(D,)`` for vectors."""
        return (self.num_chs, *self.size) if self.size is not None else (self.num_chs,)

    @property
    def numel(self) -> int:
        """Elements per sample (e.g. the length of the flattened map)."""
        return math.prod(self.shape)


class FeatureInfo(Tuple[TapInfo, ...]):
    """An ordered tuple of :class:`TapInfo` that can also be indexed by tap name.

    Example:
        >>> fi = FeatureInfo([TapInfo("embedding", 128, None, None, "fc")])
        >>> fi["embedding"].num_chs, "stem" in fi, fi.names
        (128, False, ('embedding',))
    """

    def __new__(cls, taps: Iterable[TapInfo]) -> "FeatureInfo":
        taps = tuple(taps)
        names = [t.name for t in taps]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate tap names in {names}")
        return super().__new__(cls, taps)

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(t.name for t in self)

    def get(self, name: str) -> TapInfo:
        """The tap called ``name``; ``KeyError`` listing the available names otherwise."""
        for t in self:
            if t.name == name:
                return t
        raise KeyError(f"no tap {name!r}; this model has {list(self.names)}")

    def __getitem__(self, key):  # type: ignore[override]
        return self.get(key) if isinstance(key, str) else super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        return key in self.names if isinstance(key, str) else super().__contains__(key)

    def maps(self) -> Iterator[TapInfo]:
        """The 4-D taps, in order."""
        return (t for t in self if t.is_map)


def feature_info(model: nn.Module, name: Optional[str] = None) -> Union[FeatureInfo, TapInfo]:
    """``model.feature_info``, or one tap of it when ``name`` is given."""
    info: FeatureInfo = model.feature_info  # type: ignore[assignment]
    return info if name is None else info.get(name)


def _tap(x: Union[nn.Module, TapInfo], name: str) -> TapInfo:
    return x if isinstance(x, TapInfo) else feature_info(x, name)  # type: ignore[return-value]


def needs_adapter(tap: str, a: Union[nn.Module, TapInfo], b: Union[nn.Module, TapInfo]) -> bool:
    """Whether tap ``tap`` of ``a`` and of ``b`` differ in shape (so a loss comparing them
    element-wise needs an adapter). ``a``/``b`` are models or :class:`TapInfo` s.

    Example:
        >>> from lrface.models import create_model
        >>> needs_adapter("pre_embedding", create_model("assistant"), create_model("lrstudent16"))
        False
    """
    return _tap(a, tap).shape != _tap(b, tap).shape


class Resample(nn.Module):
    """Resize a map to a fixed ``(h, w)``: adaptive average pooling when shrinking (every input
    cell contributes), bilinear interpolation otherwise.

    Args:
        size: target ``(h, w)``.
    """

    def __init__(self, size: Sequence[int]) -> None:
        super().__init__()
        self.size = (int(size[0]), int(size[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if (h, w) == self.size:
            return x
        if h >= self.size[0] and w >= self.size[1]:
            return F.adaptive_avg_pool2d(x, self.size)
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)

    def extra_repr(self) -> str:
        return f"size={self.size}"


def make_adapter(src: TapInfo, dst: TapInfo) -> nn.Module:
    """A module mapping a tensor shaped like ``src`` to ``dst``'s shape, sized from metadata only
    (FitNets-style regressor; Romero et al., ICLR 2015).

    * equal shapes: ``nn.Identity``;
    * map -> map: a 1x1 conv (no bias) when channels differ, then :class:`Resample` when the
      spatial sizes differ;
    * vector -> vector (or map -> vector, flattened first): an ``nn.Linear`` (no bias).

    Args:
        src: the tap to adapt (usually the student's).
        dst: the tap to match (usually the teacher's / assistant's).

    Returns:
        the adapter (trainable when it contains a conv or linear layer).

    Example:
        >>> from lrface.models import create_model
        >>> a = create_model("assistant").feature_info["pre_embedding"]
        >>> s = create_model("lrstudent32").feature_info["pre_embedding"]
        >>> make_adapter(s, a)(torch.zeros(2, *s.shape)).shape
        torch.Size([2, 128, 2, 2])
    """
    if src.shape == dst.shape:
        return nn.Identity()
    if dst.is_map:
        if not src.is_map:
            raise ValueError(f"cannot adapt vector tap {src.name!r} {src.shape} to a map {dst.shape}")
        mods = []
        if src.num_chs != dst.num_chs:
            mods.append(nn.Conv2d(src.num_chs, dst.num_chs, 1, bias=False))
        if src.size != dst.size:
            mods.append(Resample(dst.size))  # type: ignore[arg-type]
        return nn.Sequential(*mods)
    mods = [nn.Flatten(1)] if src.is_map else []
    mods.append(nn.Linear(src.numel, dst.num_chs, bias=False))
    return nn.Sequential(*mods)
