"""IResNet-18/34/50/100: the ArcFace "improved ResNet" HR teachers.

The layout follows insightface ``recognition/arcface_torch/backbones/iresnet.py`` (Deng et al.,
"ArcFace", CVPR 2019; Duta et al., "Improved residual networks", 2020) so that a public
``backbone.pth`` loads with ``load_state_dict(strict=True)``. Facts taken from it:

* stem: 3x3 conv (stride 1, pad 1, no bias) -> BatchNorm2d -> PReLU, 64 channels, no pooling;
* four stages of ``IBasicBlock`` with 64/128/256/512 channels, each starting with stride 2
  (on the block's *second* conv), block counts 2-2-2-2 (r18), 3-4-6-3 (r34), 3-4-14-3 (r50),
  3-13-30-3 (r100);
* block: bn1 -> conv1 (3x3) -> bn2 -> prelu -> conv2 (3x3, stride) -> bn3, plus identity or
  ``downsample`` = (1x1 conv with stride, BatchNorm2d); every stage's first block downsamples
  because of the stride;
* head: bn2 (BatchNorm2d 512) -> flatten -> dropout -> fc (512*7*7 -> num_features) ->
  features (BatchNorm1d, weight fixed at 1);
* every BatchNorm uses eps 1e-5.

Input: 112x112 RGB normalised as ``(x - 127.5) / 128`` (the 7x7 head requires exactly 112).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from lrface.models.base import MODELS, FaceModel, ModelCfg

_BN_EPS = 1e-5  # arcface_torch uses 1e-5 everywhere

#: depth -> blocks per stage, as in arcface_torch
IRESNET_LAYERS: Dict[int, List[int]] = {
    18: [2, 2, 2, 2],
    34: [3, 4, 6, 3],
    50: [3, 4, 14, 3],
    100: [3, 13, 30, 3],
}


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """Pre-activation-style residual block of IResNet (BN-Conv-BN-PReLU-Conv-BN).

    Args:
        cin: input channels.
        cout: output channels.
        stride: stride of the second 3x3 convolution (2 at the start of a stage).
        downsample: shortcut projection, or ``None`` for the identity.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=_BN_EPS)
        self.conv1 = _conv3x3(cin, cout)
        self.bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS)
        self.prelu = nn.PReLU(cout)
        self.conv2 = _conv3x3(cout, cout, stride)
        self.bn3 = nn.BatchNorm2d(cout, eps=_BN_EPS)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return out + shortcut


class IResNet(FaceModel):
    """IResNet backbone with arcface_torch state-dict names.

    Args:
        layers: number of ``IBasicBlock`` per stage (four entries).
        num_features: embedding size (512 for the public models).
        dropout: dropout probability before ``fc`` (0 in the public configs).
        cfg: preprocessing facts; defaults to 112x112 RGB ``(x-127.5)/128``, teacher role.

    Example:
        >>> m = IResNet([2, 2, 2, 2]).eval()
        >>> m(torch.zeros(1, 3, 112, 112)).shape
        torch.Size([1, 512])
    """

    fc_scale = 7 * 7  # spatial size after four stride-2 stages on a 112x112 input

    def __init__(
        self,
        layers: Sequence[int],
        num_features: int = 512,
        dropout: float = 0.0,
        cfg: Optional[ModelCfg] = None,
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"IResNet needs four stage depths, got {list(layers)}")
        self.cfg = cfg or ModelCfg(input_size=(112, 112), embedding_size=num_features, role="teacher")
        self.conv1 = _conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64, eps=_BN_EPS)
        self.prelu = nn.PReLU(64)
        cin = 64
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            self.add_module(f"layer{i}", self._make_stage(cin, width, n))
            cin = width
        self.bn2 = nn.BatchNorm2d(512, eps=_BN_EPS)
        # inplace dropout as upstream; p=0 makes it the identity
        self.dropout = nn.Dropout(p=dropout, inplace=True)
        self.fc = nn.Linear(512 * self.fc_scale, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=_BN_EPS)
        self._init_weights()

    @staticmethod
    def _make_stage(cin: int, cout: int, blocks: int) -> nn.Sequential:
        # every stage starts with stride 2, so its first block always needs a projection shortcut
        down = nn.Sequential(
            nn.Conv2d(cin, cout, kernel_size=1, stride=2, bias=False),
            nn.BatchNorm2d(cout, eps=_BN_EPS),
        )
        mods: List[nn.Module] = [IBasicBlock(cin, cout, 2, down)]
        mods += [IBasicBlock(cout, cout) for _ in range(blocks - 1)]
        return nn.Sequential(*mods)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # ArcFace keeps the embedding BN's scale fixed at 1 (only the shift is learned)
        nn.init.ones_(self.features.weight)
        self.features.weight.requires_grad = False

    def tap_specs(self) -> List[Tuple[str, int, Optional[int], str]]:
        """Taps: ``stem`` 64 ch at stride 1, ``stage1..4`` = ``layer1..4`` (64/128/256/512 ch,
        strides 2/4/8/16), ``pre_embedding`` = ``layer4``'s map, ``embedding`` from ``features``."""
        specs: List[Tuple[str, int, Optional[int], str]] = [("stem", 64, 1, "prelu")]
        for i, width in enumerate((64, 128, 256, 512), start=1):
            specs.append((f"stage{i}", width, 2**i, f"layer{i}"))
        specs.append(("pre_embedding", 512, 16, "layer4"))
        specs.append(("embedding", self.features.num_features, None, "features"))
        return specs

    def forward_features(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Named taps (see :mod:`lrface.models.taps`).

        Args:
            x: ``(N, 3, 112, 112)`` normalised input.

        Returns:
            ``stem`` (N,64,112,112), ``stage1`` (N,64,56,56), ``stage2`` (N,128,28,28),
            ``stage3`` (N,256,14,14), ``stage4`` (N,512,7,7), ``pre_embedding`` (the ``stage4``
            map, before ``bn2``), ``embedding`` (N, num_features).
        """
        if x.shape[-2:] != (112, 112):
            raise ValueError(f"IResNet expects 112x112 input (its fc is sized for 7x7), got {tuple(x.shape[-2:])}")
        feats: Dict[str, torch.Tensor] = {}
        x = self.prelu(self.bn1(self.conv1(x)))
        feats["stem"] = x
        for i in range(1, 5):  # modules stay layer1..4 (arcface_torch keys); taps are stage1..4
            x = getattr(self, f"layer{i}")(x)
            feats[f"stage{i}"] = x
        feats["pre_embedding"] = x
        x = torch.flatten(self.bn2(x), 1)
        # in-place dropout only touches bn2's fresh output, never a stored tap
        x = self.features(self.fc(self.dropout(x)))
        feats["embedding"] = x
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)["embedding"]


def _factory(depth: int) -> Callable[..., IResNet]:
    def build(num_features: int = 512, dropout: float = 0.0, **kwargs: Any) -> IResNet:
        """Build an IResNet of this depth (arcface_torch key names).

        Args:
            num_features: embedding size.
            dropout: dropout before the fc layer.
            **kwargs: ``cfg`` to override the preprocessing facts.

        Returns:
            The untrained model.
        """
        return IResNet(IRESNET_LAYERS[depth], num_features=num_features, dropout=dropout, **kwargs)

    build.__name__ = f"iresnet{depth}"
    return build


for _depth in IRESNET_LAYERS:  # registration only stores factories: no model is built on import
    MODELS.register(f"iresnet{_depth}", _factory(_depth))
