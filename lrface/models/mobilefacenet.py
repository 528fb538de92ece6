"""MobileFaceNet HR teachers (Chen et al., "MobileFaceNets", CCBR 2018, arXiv:1804.07573).

Two variants whose state-dict keys match public weights exactly:

``mobilefacenet_y1``
    insightface's MobileFaceNet "y1" (128-D, 112x112, trained with ArcFace on MS1M; MXNet).
    The module tree mirrors the MXNet graph ``model-symbol.json``: a graph operator node named
    ``A_B_C`` is our module ``A.B.C`` (replace dots by underscores), e.g. node
    ``res_3_block0_conv_sep_conv2d`` is ``self.res_3.block0.conv_sep.conv2d``. That makes the
    converter in :mod:`lrface.models.convert` a name lookup that can be audited by eye.
    Facts from the graph: BatchNorm eps 1e-3 (MXNet's default) everywhere except the final
    ``fc1`` (BatchNorm1d, ``fix_gamma=True``, eps 2e-5); PReLU after every non-linear unit;
    strides 2 at ``conv_1``, ``dconv_23``, ``dconv_34``, ``dconv_45``; a 7x7 depthwise "GDC"
    (``conv_6dw7_7``) then ``pre_fc1`` (FullyConnected 512->128). The graph's own input scaling
    (``_minus_scalar`` 127.5, ``_mul_scalar`` 0.0078125) is *not* part of the module: inputs
    arrive normalised as ``(x - 127.5) / 128`` (:func:`lrface.models.base.preprocess`), RGB.

``mobilefacenet_casia``
    the PyTorch MobileFaceNet for 112x96 (SphereFace-style) crops of Xiaoccer/MobileFaceNet_Pytorch
    (``core/model.py``; trained with ArcFace on CASIA-WebFace; checkpoint ``068.ckpt``). Keys:
    ``conv1``, ``dw_conv1``, ``blocks.{0..14}.conv.{0..7}``, ``conv2``, ``linear7`` (7x6
    depthwise, linear), ``linear1`` (1x1 conv 512->128, linear). Bottleneck table (t, c, n, s) =
    (2,64,5,2), (4,128,1,2), (2,128,6,1), (4,128,1,2), (2,128,2,1); PyTorch default BN eps 1e-5.
    That repository reads images with ``scipy.misc.imread`` (RGB) and scales ``(x - 127.5) / 128``;
    we confirmed RGB on LFW (`lrface-bench --dataset lfw --res 112 --model casia.pt`).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from lrface.models.base import MODELS, FaceModel, ModelCfg

# ----------------------------------------------------------------------------------------------
# y1: module names mirror the MXNet graph
# ----------------------------------------------------------------------------------------------

_MX_BN_EPS = 1e-3  # MXNet BatchNorm default eps; the y1 graph does not override it
_MX_FC1_EPS = 2e-5  # the final embedding BatchNorm sets eps explicitly


class MxConvUnit(nn.Module):
    """Convolution -> BatchNorm -> (PReLU), named ``conv2d``/``batchnorm``/``relu`` as in the graph.

    Args:
        cin: input channels.
        cout: output channels.
        kernel: square kernel size.
        stride: stride.
        pad: zero padding.
        groups: convolution groups (``cin`` for depthwise).
        act: append a PReLU (graph ``LeakyReLU`` with ``act_type=prelu``).
    """

    def __init__(
        self, cin: int, cout: int, kernel: int = 1, stride: int = 1, pad: int = 0, groups: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride, pad, groups=groups, bias=False)
        self.batchnorm = nn.BatchNorm2d(cout, eps=_MX_BN_EPS)
        self.relu = nn.PReLU(cout) if act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.batchnorm(self.conv2d(x))
        return x if self.relu is None else self.relu(x)


class MxDepthWise(nn.Module):
    """Inverted-residual body: 1x1 expand (``conv_sep``), 3x3 depthwise (``conv_dw``), linear 1x1
    projection (``conv_proj``). No shortcut here; :class:`MxResidual` adds it.

    Args:
        cin: input channels.
        cout: output channels.
        expand: channels of the expanded (depthwise) part.
        stride: stride of the depthwise conv.
    """

    def __init__(self, cin: int, cout: int, expand: int, stride: int = 1) -> None:
        super().__init__()
        self.conv_sep = MxConvUnit(cin, expand, 1)
        self.conv_dw = MxConvUnit(expand, expand, 3, stride, 1, groups=expand)
        self.conv_proj = MxConvUnit(expand, cout, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_proj(self.conv_dw(self.conv_sep(x)))


class MxResidual(nn.Module):
    """``n`` stride-1 :class:`MxDepthWise` blocks named ``block0..block{n-1}``, each with an
    identity shortcut (the graph's ``elemwise_add``).

    Args:
        channels: input and output channels.
        expand: expanded channels inside each block.
        n: number of blocks.
    """

    def __init__(self, channels: int, expand: int, n: int) -> None:
        super().__init__()
        self.n = n
        for i in range(n):
            self.add_module(f"block{i}", MxDepthWise(channels, channels, expand))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.n):
            x = getattr(self, f"block{i}")(x) + x
        return x


class MobileFaceNetY1(FaceModel):
    """insightface MobileFaceNet "y1" with graph-mirroring module names (see module docstring).

    Args:
        embedding_size: embedding size (128 for the public model).
        cfg: preprocessing facts; defaults to 112x112 RGB ``(x-127.5)/128``, teacher role.

    Example:
        >>> m = MobileFaceNetY1().eval()
        >>> m(torch.zeros(2, 3, 112, 112)).shape
        torch.Size([2, 128])
    """

    def __init__(self, embedding_size: int = 128, cfg: Optional[ModelCfg] = None) -> None:
        super().__init__()
        self.cfg = cfg or ModelCfg(input_size=(112, 112), embedding_size=embedding_size, role="teacher")
        self.conv_1 = MxConvUnit(3, 64, 3, 2, 1)
        self.conv_2_dw = MxConvUnit(64, 64, 3, 1, 1, groups=64)
        self.dconv_23 = MxDepthWise(64, 64, 128, stride=2)
        self.res_3 = MxResidual(64, 128, 4)
        self.dconv_34 = MxDepthWise(64, 128, 256, stride=2)
        self.res_4 = MxResidual(128, 256, 6)
        self.dconv_45 = MxDepthWise(128, 128, 512, stride=2)
        self.res_5 = MxResidual(128, 256, 2)
        self.conv_6sep = MxConvUnit(128, 512, 1)
        self.conv_6dw7_7 = MxConvUnit(512, 512, 7, groups=512, act=False)  # global depthwise conv
        self.pre_fc1 = nn.Linear(512, embedding_size)
        self.fc1 = nn.BatchNorm1d(embedding_size, eps=_MX_FC1_EPS)
        # fix_gamma=True in the graph: the scale is 1 and never trained
        nn.init.ones_(self.fc1.weight)
        self.fc1.weight.requires_grad = False

    def tap_specs(self) -> List[Tuple[str, int, Optional[int], str]]:
        """Taps: ``stem`` (``conv_2_dw``, 64 ch, stride 2), ``stage1..3`` (``res_3``/``res_4``/
        ``res_5``: 64/128/128 ch, strides 4/8/16), ``pre_embedding`` (``conv_6sep``, 512 ch,
        stride 16), ``embedding`` (``fc1``)."""
        return [
            ("stem", 64, 2, "conv_2_dw"),
            ("stage1", 64, 4, "res_3"),
            ("stage2", 128, 8, "res_4"),
            ("stage3", 128, 16, "res_5"),
            ("pre_embedding", 512, 16, "conv_6sep"),
            ("embedding", self.fc1.num_features, None, "fc1"),
        ]

    def forward_features(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Named taps (see :mod:`lrface.models.taps`).

        Args:
            x: ``(N, 3, 112, 112)`` normalised RGB.

        Returns:
            ``stem`` (N,64,56,56), ``stage1`` (N,64,28,28), ``stage2`` (N,128,14,14),
            ``stage3`` (N,128,7,7), ``pre_embedding`` (N,512,7,7), ``embedding`` (N,128).
        """
        feats: Dict[str, torch.Tensor] = {}
        x = self.conv_2_dw(self.conv_1(x))
        feats["stem"] = x
        x = self.res_3(self.dconv_23(x))
        feats["stage1"] = x
        x = self.res_4(self.dconv_34(x))
        feats["stage2"] = x
        x = self.res_5(self.dconv_45(x))
        feats["stage3"] = x
        x = self.conv_6sep(x)
        feats["pre_embedding"] = x
        x = self.conv_6dw7_7(x)
        if x.shape[-2:] != (1, 1):
            raise ValueError(f"mobilefacenet_y1 expects 112x112 input, got a {tuple(x.shape[-2:])} map before pre_fc1")
        feats["embedding"] = self.fc1(self.pre_fc1(torch.flatten(x, 1)))
        return feats


# ----------------------------------------------------------------------------------------------
# CASIA 112x96: key names of Xiaoccer/MobileFaceNet_Pytorch
# ----------------------------------------------------------------------------------------------

#: (expansion t, output channels c, repeats n, first stride s), as in the MobileFaceNet paper
CASIA_BOTTLENECKS: Tuple[Tuple[int, int, int, int], ...] = (
    (2, 64, 5, 2),
    (4, 128, 1, 2),
    (2, 128, 6, 1),
    (4, 128, 1, 2),
    (2, 128, 2, 1),
)


class ConvBlock(nn.Module):
    """Conv -> BN -> (PReLU) with keys ``conv``/``bn``/``prelu``.

    Args:
        cin: input channels.
        cout: output channels.
        kernel: kernel size (int or (h, w)).
        stride: stride.
        pad: padding.
        depthwise: one group per input channel.
        linear: omit the PReLU.
    """

    def __init__(
        self, cin: int, cout: int, kernel: Any, stride: int, pad: int, depthwise: bool = False, linear: bool = False
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, pad, groups=cin if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.prelu = None if linear else nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return x if self.prelu is None else self.prelu(x)


class Bottleneck(nn.Module):
    """Inverted residual as one ``conv`` Sequential (indices 0..7: pw, bn, prelu, dw, bn, prelu,
    pw-linear, bn), with an identity shortcut when shapes allow.

    Args:
        cin: input channels.
        cout: output channels.
        stride: depthwise stride.
        t: expansion factor.
    """

    def __init__(self, cin: int, cout: int, stride: int, t: int) -> None:
        super().__init__()
        mid = cin * t
        self.shortcut = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            nn.Conv2d(cin, mid, 1, 1, 0, bias=False),
            nn.BatchNorm2d(mid),
            nn.PReLU(mid),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
            nn.PReLU(mid),
            nn.Conv2d(mid, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.shortcut else y


class MobileFaceNetCasia(FaceModel):
    """MobileFaceNet for 112x96 crops, keys of Xiaoccer/MobileFaceNet_Pytorch (see module docstring).

    Args:
        embedding_size: embedding size (128 for ``068.ckpt``).
        cfg: preprocessing facts; defaults to 112x96 RGB ``(x-127.5)/128`` on the 112x96 template.

    Example:
        >>> m = MobileFaceNetCasia().eval()
        >>> m(torch.zeros(2, 3, 112, 96)).shape
        torch.Size([2, 128])
    """

    #: block indices ending each stage tap: blocks 0-4 (28x24), 5-11 (14x12), 12-14 (7x6)
    _STAGE_ENDS = (5, 12, 15)

    def __init__(self, embedding_size: int = 128, cfg: Optional[ModelCfg] = None) -> None:
        super().__init__()
        self.cfg = cfg or ModelCfg(
            input_size=(112, 96), embedding_size=embedding_size, channel_order="RGB",
            template="arcface_112x96", role="teacher",
        )
        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.dw_conv1 = ConvBlock(64, 64, 3, 1, 1, depthwise=True)
        blocks: List[nn.Module] = []
        cin = 64
        for t, c, n, s in CASIA_BOTTLENECKS:
            for i in range(n):
                blocks.append(Bottleneck(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.conv2 = ConvBlock(128, 512, 1, 1, 0)
        self.linear7 = ConvBlock(512, 512, (7, 6), 1, 0, depthwise=True, linear=True)
        self.linear1 = ConvBlock(512, embedding_size, 1, 1, 0, linear=True)

    def tap_specs(self) -> List[Tuple[str, int, Optional[int], str]]:
        """Taps: ``stem`` (``dw_conv1``, 64 ch, stride 2), ``stage1..3`` (ending at
        ``blocks.4``/``blocks.11``/``blocks.14``: 64/128/128 ch, strides 4/8/16),
        ``pre_embedding`` (``conv2``, 512 ch, stride 16), ``embedding`` (``linear1``)."""
        specs: List[Tuple[str, int, Optional[int], str]] = [("stem", 64, 2, "dw_conv1")]
        for k, end in enumerate(self._STAGE_ENDS, start=1):
            last = self.blocks[end - 1].conv[-1]  # the block's final BatchNorm
            specs.append((f"stage{k}", last.num_features, 2 ** (k + 1), f"blocks.{end - 1}"))
        specs.append(("pre_embedding", self.conv2.bn.num_features, 16, "conv2"))
        specs.append(("embedding", self.linear1.bn.num_features, None, "linear1"))
        return specs

    def forward_features(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Named taps (see :mod:`lrface.models.taps`).

        Args:
            x: ``(N, 3, 112, 96)`` normalised input.

        Returns:
            ``stem`` (N,64,56,48), ``stage1`` (N,64,28,24), ``stage2`` (N,128,14,12),
            ``stage3`` (N,128,7,6), ``pre_embedding`` (N,512,7,6), ``embedding`` (N,128).
        """
        feats: Dict[str, torch.Tensor] = {}
        x = self.dw_conv1(self.conv1(x))
        feats["stem"] = x
        start = 0
        for k, end in enumerate(self._STAGE_ENDS, start=1):
            for i in range(start, end):
                x = self.blocks[i](x)
            feats[f"stage{k}"] = x
            start = end
        x = self.conv2(x)
        feats["pre_embedding"] = x
        x = self.linear1(self.linear7(x))
        if x.shape[-2:] != (1, 1):
            raise ValueError(f"mobilefacenet_casia expects 112x96 input, got a {tuple(x.shape[-2:])} map at the end")
        feats["embedding"] = torch.flatten(x, 1)
        return feats


@MODELS.register("mobilefacenet_y1")
def mobilefacenet_y1(**kwargs: Any) -> MobileFaceNetY1:
    """insightface MobileFaceNet "y1" (128-D, 112x112). Args: ``embedding_size``, ``cfg``.

    Returns:
        The untrained model (convert weights with :func:`lrface.models.convert.convert_mxnet`).
    """
    return MobileFaceNetY1(**kwargs)


@MODELS.register("mobilefacenet_casia")
def mobilefacenet_casia(**kwargs: Any) -> MobileFaceNetCasia:
    """PyTorch MobileFaceNet for 112x96 crops (128-D). Args: ``embedding_size``, ``cfg``.

    Returns:
        The untrained model (convert ``068.ckpt`` with :func:`lrface.models.convert.convert`).
    """
    return MobileFaceNetCasia(**kwargs)
