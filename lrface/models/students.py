"""Compact native-resolution students (8..32 px) and the HR assistant network.

A student takes the low-resolution (LR) face at its *native* size (e.g. 16x16) instead of
upsampling it back to 112x112 as most LR-FR papers do (e.g. Shin et al., A-SKD, ECCV 2022), so
its cost scales with the LR pixel count. Ge et al. (IEEE TIP 2019/2020) showed ~0.1-0.2M
parameter native-LR students reaching hundreds of faces/s on CPU; ours are wider (about
0.5-1M parameters) but tuned for CPU throughput:

* plain 3x3 convolutions only: at 2x2..16x16 maps, depthwise convolutions are memory bound on
  CPU (little arithmetic per byte moved), while dense 3x3 convs run near oneDNN's GEMM speed;
* BatchNorm after every conv, so :func:`lrface.models.export.fold_bn` removes them at deploy;
* a few stride-2 stages chosen per input size so the last map is 2x2..3x3; the spatial layout
  is then kept by a flatten + linear head (like insightface's IResNet "fc" head, not global
  pooling, which throws away *where* a feature is - costly when there are only 4..9 cells);
* residual pairs of convs after each downsampling conv, for easy optimisation under
  distillation;
* a stride-2 stem for inputs of 12 px and more: the 3->C stem at full resolution has only 27 inputs per
  output and is the least efficient layer on CPU; a stride-2 3x3 stem with >= 12 channels can
  still carry every pixel (2x2x3 = 12 values per output cell), so little is lost.

Embeddings are 128-D by default (configurable), followed by BatchNorm1d as in insightface.

Example:
    >>> from lrface.models import create_model
    >>> m = create_model("lrstudent16").eval()
    >>> m(torch.zeros(2, 3, 16, 16)).shape
    torch.Size([2, 128])
    >>> list(m.forward_features(torch.zeros(2, 3, 16, 16)))
    ['stem', 'stage1', 'stage2', 'pre_embedding', 'embedding']
    >>> m.feature_info["pre_embedding"].shape
    (128, 2, 2)

Assistant -> student feature losses (shapes from ``feature_info``, default 128-D embeddings;
the assistant's ``pre_embedding`` is 128 x 2x2):

======  ==================  ========================================================
res     ``pre_embedding``   adapter needed vs the assistant
======  ==================  ========================================================
8       128 x 2x2           none (identical shape)
12      128 x 2x2           none
16      128 x 2x2           none
20      128 x 3x3           spatial resample 3x3 -> 2x2 (channels match)
24      128 x 3x3           spatial resample 3x3 -> 2x2 (channels match)
32      256 x 2x2           1x1 conv 256 -> 128 (spatial size matches)
======  ==================  ========================================================

``embedding`` always matches when both use the same ``embedding_size``. Earlier maps
(``stem``, ``stage1``, ...) never match across resolutions (the assistant's are 56x56 .. 4x4).
:func:`lrface.models.taps.needs_adapter` and :func:`~lrface.models.taps.make_adapter` answer
and size this from metadata for any pair of models (``tests/test_taps.py`` checks this table).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.fx
from torch import nn

from lrface.models.base import MODELS, FaceModel, ModelCfg

__all__ = ["StudentSpec", "STUDENT_SPECS", "ASSISTANT_SPEC", "CompactFaceNet", "ConvBNAct", "ResBlock"]


@dataclass(frozen=True)
class StudentSpec:
    """Width/depth of a :class:`CompactFaceNet`.

    Attributes:
        stem: channels of the stem conv.
        stem_stride: 1 or 2.
        stem_blocks: residual pairs of 3x3 convs at the stem's resolution.
        stages: ``((channels, n_res_blocks), ...)``; every stage starts with a stride-2 conv
            and then has ``n_res_blocks`` residual pairs of 3x3 convs.
    """

    stem: int
    stem_stride: int
    stem_blocks: int
    stages: Tuple[Tuple[int, int], ...]

    def final_size(self, size: int) -> int:
        """Side of the last feature map for an input of side ``size`` (padding 1, k=3)."""
        s = (size - 1) // self.stem_stride + 1
        for _ in self.stages:
            s = (s - 1) // 2 + 1
        return s


#: Per input side: chosen so the last map is 2x2 or 3x3 and the 16 px student clears
#: 10k faces/s at batch 256 on 2 CPU cores (see benchmarks/speed.py) with margin.
STUDENT_SPECS: Dict[int, StudentSpec] = {
    8: StudentSpec(32, 1, 1, ((64, 1), (128, 1))),  # 8 -> 8 (+block) -> 4 -> 2
    12: StudentSpec(32, 2, 1, ((64, 1), (128, 1))),  # 12 -> 6 (+block) -> 3 -> 2
    16: StudentSpec(32, 2, 0, ((64, 1), (128, 1))),  # 16 -> 8 -> 4 -> 2
    20: StudentSpec(32, 2, 0, ((64, 1), (128, 1))),  # 20 -> 10 -> 5 -> 3
    24: StudentSpec(32, 2, 0, ((64, 1), (128, 1))),  # 24 -> 12 -> 6 -> 3
    32: StudentSpec(32, 2, 0, ((64, 1), (128, 1), (256, 0))),  # 32 -> 16 -> 8 -> 4 -> 2
}

#: The assistant sees the HR 112x112 face and narrows to a 128 x 2x2 ``pre_embedding`` map:
#: 112 -> 56 (stem) -> 28 -> 14 -> 7 -> 4 -> 2. That equals the 8/12/16 px students' last map, so
#: their assistant->student feature losses need no adapter; 20/24 px students end at 3x3 and
#: 32 px at 256 channels, so those need one (see the module docstring and ``make_adapter``).
ASSISTANT_SPEC = StudentSpec(32, 2, 0, ((32, 1), (48, 1), (64, 1), (96, 1), (128, 1)))


def _act(kind: str, channels: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(channels)
    if kind == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"unknown activation {kind!r}: use 'prelu' or 'relu'")


class ConvBNAct(nn.Sequential):
    """3x3 conv (no bias) -> BatchNorm2d -> activation; a Sequential so BN folding is trivial."""

    def __init__(self, cin: int, cout: int, stride: int = 1, act: str = "prelu") -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), _act(act, cout)
        )


class ResBlock(nn.Module):
    """``act(x + BN(conv(act(BN(conv(x))))))``: a ResNet basic block (He et al., CVPR 2016)."""

    def __init__(self, channels: int, act: str = "prelu") -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNAct(channels, channels, 1, act),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.act = _act(act, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


@torch.fx.wrap
def _check_input(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    # fx.wrap keeps this call opaque to symbolic tracing (fold_bn traces the model), while
    # eager calls get a readable error instead of a GEMM shape mismatch deep in the head.
    if x.dim() != 4 or tuple(x.shape[-2:]) != tuple(size):
        raise ValueError(f"expected input (N, 3, {size[0]}, {size[1]}), got {tuple(x.shape)}")
    return x


class CompactFaceNet(FaceModel):
    """Plain-3x3-conv face embedder for a fixed input size (student or assistant).

    Args:
        spec: widths/depths, see :class:`StudentSpec`.
        cfg: the model's :class:`ModelCfg` (``input_size`` must be square).
        act: ``"prelu"`` (default, as in insightface) or ``"relu"`` (slightly faster on CPU).
        dropout: dropout before the embedding layer (training only).

    Taps returned by :meth:`forward_features` (vocabulary of :mod:`lrface.models.taps`):
    ``"stem"``, ``"stage1"``..``"stageK"`` (one per entry of ``spec.stages``),
    ``"pre_embedding"`` (the ``stageK`` map the flatten + linear head consumes) and
    ``"embedding"`` ``(N, D)``.

    Example:
        >>> net = CompactFaceNet(STUDENT_SPECS[12], ModelCfg(input_size=(12, 12),
        ...                      embedding_size=64, role="student"))
        >>> net.eval()(torch.zeros(1, 3, 12, 12)).shape
        torch.Size([1, 64])
    """

    def __init__(
        self, spec: StudentSpec, cfg: ModelCfg, act: str = "prelu", dropout: float = 0.0, anchored: bool = False
    ) -> None:
        super().__init__()
        h, w = cfg.input_size
        if h != w:
            raise ValueError(f"CompactFaceNet needs a square input, got {cfg.input_size}")
        self.cfg = cfg
        self.spec = spec
        self.stem = nn.Sequential(
            ConvBNAct(3, spec.stem, spec.stem_stride, act),
            *[ResBlock(spec.stem, act) for _ in range(spec.stem_blocks)],
        )
        stages = []
        cin = spec.stem
        for cout, blocks in spec.stages:
            stages.append(nn.Sequential(ConvBNAct(cin, cout, 2, act), *[ResBlock(cout, act) for _ in range(blocks)]))
            cin = cout
        self.stages = nn.ModuleList(stages)
        f = spec.final_size(h)
        self.final_size = f
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(cin * f * f, cfg.embedding_size, bias=False)
        self.features = nn.BatchNorm1d(cfg.embedding_size)
        # Anchored: the embedding is center + radius * unit(head), with the teacher's mean
        # embedding and mean distance from it (set by the trainer, stored with the weights). A
        # teacher whose embeddings share one narrow cone (dlib's) is matched by learning only the
        # direction that tells faces apart (a centred cosine), while the output stays in the
        # teacher's raw space, so it compares with the teacher's own embeddings.
        self.anchored = bool(anchored)
        if self.anchored:
            self.register_buffer("anchor_center", torch.zeros(cfg.embedding_size))
            self.register_buffer("anchor_radius", torch.ones(()))
        self._init_weights()

    def set_anchor(self, center: torch.Tensor, radius: float) -> None:
        """Set the anchor (see ``anchored``) from the teacher's embedding statistics."""
        if not self.anchored:
            raise ValueError("set_anchor needs a model built with anchored=True")
        with torch.no_grad():
            self.anchor_center.copy_(center.reshape(-1).to(self.anchor_center))
            self.anchor_radius.fill_(float(radius))

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
        # Zero-init the last BN of each residual branch so blocks start as identities
        # (Goyal et al., 2017): deeper stacks then train as easily as shallow ones.
        for m in self.modules():
            if isinstance(m, ResBlock):
                nn.init.zeros_(m.body[2].weight)

    def tap_specs(self) -> List[Tuple[str, int, Optional[int], str]]:
        """Taps from ``spec``: the stem at its stride, each stage doubling the reduction."""
        r = self.spec.stem_stride
        specs: List[Tuple[str, int, Optional[int], str]] = [("stem", self.spec.stem, r, "stem")]
        for i, (cout, _) in enumerate(self.spec.stages, 1):
            r *= 2
            specs.append((f"stage{i}", cout, r, f"stages.{i - 1}"))
        specs.append(("pre_embedding", specs[-1][1], r, f"stages.{len(self.spec.stages) - 1}"))
        specs.append(("embedding", self.cfg.embedding_size, None, "features"))
        return specs

    def forward_features(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Named taps for distillation; see the class docstring.

        Args:
            x: ``(N, 3, H, W)`` normalised as ``self.cfg`` says, at ``self.cfg.input_size``.

        Returns:
            dict of tensors, ending with ``"embedding"`` ``(N, embedding_size)``.
        """
        x = _check_input(x, self.cfg.input_size)
        out: Dict[str, torch.Tensor] = {}
        x = self.stem(x)
        out["stem"] = x
        for i, stage in enumerate(self.stages, 1):
            x = stage(x)
            out[f"stage{i}"] = x
        out["pre_embedding"] = x
        emb = self.features(self.fc(self.dropout(torch.flatten(x, 1))))
        if self.anchored:
            emb = self.anchor_center + self.anchor_radius * torch.nn.functional.normalize(emb, dim=1)
        out["embedding"] = emb
        return out


def _student_factory(size: int):
    def factory(
        embedding_size: int = 128,
        act: str = "prelu",
        dropout: float = 0.0,
        spec: Optional[Union[StudentSpec, Dict[str, Any]]] = None,
        anchored: bool = False,
    ) -> CompactFaceNet:
        if isinstance(spec, dict):  # from a YAML config or a manifest's arch_kwargs
            spec = StudentSpec(**{**spec, "stages": tuple(tuple(int(v) for v in st) for st in spec["stages"])})
        cfg = ModelCfg(input_size=(size, size), embedding_size=embedding_size, role="student")
        return CompactFaceNet(spec or STUDENT_SPECS[size], cfg, act=act, dropout=dropout, anchored=anchored)

    factory.__name__ = f"lrstudent{size}"
    factory.__doc__ = (
        f"Native {size}x{size} px student (ArcFace-112 aligned face degraded to {size} px by "
        "lrface.face.degrade). Args: embedding_size, act ('prelu'|'relu'), dropout, spec, anchored."
    )
    return factory


for _size in STUDENT_SPECS:
    MODELS.register(f"lrstudent{_size}", _student_factory(_size))


@MODELS.register("assistant")
def assistant(
    embedding_size: int = 128, act: str = "prelu", dropout: float = 0.0, spec: Optional[StudentSpec] = None
) -> CompactFaceNet:
    """HR (112x112) assistant for three-stream distillation: same compact design as the students.

    Example:
        >>> assistant().input_size
        (112, 112)
    """
    cfg = ModelCfg(input_size=(112, 112), embedding_size=embedding_size, role="assistant")
    return CompactFaceNet(spec or ASSISTANT_SPEC, cfg, act=act, dropout=dropout)
