"""dlib's face recognition ResNet v1 in PyTorch (public domain, CC0 1.0).

The network of ``dlib_face_recognition_resnet_model_v1.dat`` (Davis King; defined in dlib's
``examples/dnn_face_recognition_ex.cpp``): a 29-convolution ResNet with 5.6 M parameters,
trained with a metric loss on about 3 million faces of 7,485 identities; it maps a 150x150 RGB
face chip to a 128-D embedding. Its author reports 99.38% on LFW.

Architecture, as dlib computes it (and as :func:`from_dlib` checks layer by layer):

* input RGB, ``(x - (122.782, 117.001, 104.298)) / 256``;
* stem: 7x7/2 conv (32) + affine + relu, 3x3/2 max pool;
* residual blocks (3x3 conv (stride s), affine, relu, 3x3 conv, affine; add; relu) in levels
  3x32; a down block + 3x64; down + 2x128; down + 2x256; one down block of 256. A down block
  average-pools its shortcut 2x2/2;
* global average pool; a bias-free fully connected layer to 128.

Two dlib rules that matter for equality: a convolution or pool **pads 0 when its stride is not
1** (else ``k // 2``), so sides run 150 -> 72 -> 35 -> 17 -> 8 -> 4 -> 2; and the residual add
**zero-pads the smaller operand** (missing channels, and missing rows/columns at the bottom and
right), so a 3x3 block output plus a 4x4 pooled shortcut is 4x4. The unpadded strides also mean
inputs below about 104 px leave nothing for the last stage.

``affine`` is dlib's batch-norm replacement at inference (scale and shift per channel). Here it
is :class:`Affine`, a BatchNorm2d that always applies its stored scale and shift (training
included), so :func:`lrface.models.export.fold_bn` folds it into the convolution before it,
and fine-tuning keeps the pretrained statistics fixed (frozen batch norm).

Example:
    >>> m = create_model("dlib_resnet_v1").eval()
    >>> m(torch.zeros(1, 3, 150, 150)).shape
    torch.Size([1, 128])
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrface.models.base import MODELS, FaceModel, ModelCfg

__all__ = ["Affine", "DlibResNet", "DLIB_MEAN", "from_dlib"]

#: dlib's input layer means (R, G, B), read from the model file; the scale is 1/256.
DLIB_MEAN = (122.782, 117.001, 104.298)
#: (channels, blocks, first block downsamples) per level, input to output.
LEVELS: Tuple[Tuple[int, int, bool], ...] = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))


class Affine(nn.BatchNorm2d):
    """Per-channel ``gamma * x + beta`` (dlib's ``affine`` layer), stored as a BatchNorm2d with
    mean 0, variance 1 and eps 0 so BN folding applies, and never normalising by batch
    statistics (also in training mode)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=0.0, momentum=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)


def _conv(cin: int, cout: int, k: int, stride: int) -> nn.Conv2d:
    """A dlib ``con``: padding ``k // 2`` at stride 1, 0 otherwise; with bias."""
    return nn.Conv2d(cin, cout, k, stride, padding=k // 2 if stride == 1 else 0, bias=True)


def add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: the sum over the larger extent of each dimension, the smaller
    operand zero-padded at the end (channels; rows at the bottom; columns at the right)."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(int(x), int(y)) for x, y in zip(a.shape[1:], b.shape[1:]))

    def grow(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return grow(a) + grow(b)


class Block(nn.Module):
    """A residual block; ``down``: stride-2 first conv and a 2x2/2 average-pooled shortcut."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        s = 2 if down else 1
        # one Sequential so BN folding finds each conv -> affine pair on the traced chain
        self.body = nn.Sequential(_conv(cin, cout, 3, s), Affine(cout), nn.ReLU(inplace=True),
                                  _conv(cout, cout, 3, 1), Affine(cout))
        self.pool = nn.AvgPool2d(2, 2) if down else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(add_padded(self.body(x), self.pool(x)))


class DlibResNet(FaceModel):
    """dlib's face recognition ResNet v1 (see the module docstring).

    Args:
        embedding_size: output size (dlib's is 128).
        input_size: chip side the model is run at (dlib's is 150; see the module docstring
            for the smallest that works).
    """

    def __init__(self, embedding_size: int = 128, input_size: int = 150) -> None:
        super().__init__()
        self.cfg = ModelCfg(input_size=(int(input_size), int(input_size)), embedding_size=embedding_size,
                            mean=DLIB_MEAN, std=(256.0, 256.0, 256.0), template="dlib_chip", role="teacher")
        self.stem = nn.Sequential(_conv(3, 32, 7, 2), Affine(32), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
        cin = 32
        levels: List[nn.Sequential] = []
        for cout, n, down in LEVELS:
            levels.append(nn.Sequential(*[Block(cin if i == 0 else cout, cout, down and i == 0) for i in range(n)]))
            cin = cout
        self.stem_blocks, self.stage1, self.stage2, self.stage3, self.stage4 = levels
        self.fc = nn.Linear(256, embedding_size, bias=False)

    def tap_specs(self) -> Sequence[Tuple[str, int, Optional[int], str]]:
        return [("stem", 32, 4, "stem_blocks"), ("stage1", 64, 8, "stage1"), ("stage2", 128, 16, "stage2"),
                ("stage3", 256, 32, "stage3"), ("stage4", 256, 64, "stage4"), ("pre_embedding", 256, 64, "stage4"),
                ("embedding", self.embedding_size, None, "fc")]

    def map_size(self, reduction: int) -> Tuple[int, int]:
        # dlib pads nothing on strided layers: the stem is 7x7/2 conv then 3x3/2 max pool; each
        # down block's 3x3/2 conv and its 2x2/2 pooled shortcut meet at the larger of the two
        # (add_padded), e.g. 150 -> 72 -> 35 -> 17 -> 8 -> 4 -> 2.
        def side(s: int) -> int:
            s = ((s - 7) // 2 + 1 - 3) // 2 + 1  # stem: reduction 4
            for _ in range(int(reduction).bit_length() - 3):  # one down block per further factor 2
                s = max((s - 3) // 2 + 1, s // 2)
            return s

        return side(self.input_size[0]), side(self.input_size[1])

    def forward_features(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        stem = self.stem_blocks(self.stem(x))
        s1 = self.stage1(stem)
        s2 = self.stage2(s1)
        s3 = self.stage3(s2)
        s4 = self.stage4(s3)
        emb = self.fc(s4.mean(dim=(2, 3)))
        return {"stem": stem, "stage1": s1, "stage2": s2, "stage3": s3, "stage4": s4, "pre_embedding": s4,
                "embedding": emb}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.stage4(self.stage3(self.stage2(self.stage1(self.stem_blocks(self.stem(x)))))).mean(dim=(2, 3)))


@MODELS.register("dlib_resnet_v1")
def dlib_resnet_v1(**kwargs: Any) -> DlibResNet:
    """dlib's face recognition ResNet v1 (150 px chips, 128-D); weights via ``lrface-convert``."""
    return DlibResNet(**kwargs)


def _expected_layers() -> List[Tuple[str, Dict[str, Any]]]:
    """The layer records of dlib's file for this architecture, bottom-up: ``(kind, facts)``."""
    out: List[Tuple[str, Dict[str, Any]]] = [
        ("con", {"num_filters": 32, "kernel": (7, 7), "stride": (2, 2)}), ("affine", {}), ("relu", {}),
        ("max_pool", {"kernel": (3, 3), "stride": (2, 2)})]
    for cout, n, down in LEVELS:
        for i in range(n):
            s = 2 if down and i == 0 else 1
            out += [("con", {"num_filters": cout, "kernel": (3, 3), "stride": (s, s)}), ("affine", {}), ("relu", {}),
                    ("con", {"num_filters": cout, "kernel": (3, 3), "stride": (1, 1)}), ("affine", {})]
            if s == 2:
                out.append(("avg_pool", {"kernel": (2, 2), "stride": (2, 2)}))
            out += [("add_prev", {}), ("relu", {})]
    out += [("avg_pool", {"kernel": (0, 0), "stride": (1, 1)}), ("fc", {"num_outputs": 128})]
    return out


def from_dlib(path: str) -> Tuple[Dict[str, torch.Tensor], ModelCfg]:
    """State dict of :class:`DlibResNet` from dlib's ``.dat`` file, checked layer by layer.

    Raises:
        WeightsError: the file is not this architecture (layer kinds, filter counts, kernels,
            strides or paddings differ), or not a dlib DNN file.
    """
    from lrface.errors import WeightsError
    from lrface.models.dlib_io import read_dlib_dnn

    net = read_dlib_dnn(path)
    want = _expected_layers()
    if len(net.layers) != len(want):
        raise WeightsError(f"{path}: {len(net.layers)} layers, dlib's face ResNet v1 has {len(want)}")
    for i, (rec, (kind, facts)) in enumerate(zip(net.layers, want)):
        if rec.kind != kind or any(rec.fields.get(k) != v for k, v in facts.items()):
            raise WeightsError(f"{path}: layer {i} (bottom-up) is {rec.kind} {rec.fields}, expected {kind} {facts}")
        if kind in ("con", "max_pool", "avg_pool") and facts["kernel"] != (0, 0):
            k, s = facts["kernel"][0], facts["stride"][0]
            if rec.fields["padding"] != ((k // 2, k // 2) if s == 1 else (0, 0)):
                raise WeightsError(f"{path}: layer {i} pads {rec.fields['padding']}, not dlib's default")
    if tuple(net.input["size"]) != (150, 150) or not np.allclose(net.input["mean"], DLIB_MEAN, atol=1e-3):
        raise WeightsError(f"{path}: input layer {net.input} differs from dlib's face ResNet v1")
    model = DlibResNet()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    affines = [m for m in model.modules() if isinstance(m, Affine)]
    state: Dict[str, torch.Tensor] = {}
    names = {id(m): n for n, m in model.named_modules()}
    for m, rec in zip(convs, net.of_kind("con")):
        state[f"{names[id(m)]}.weight"] = torch.from_numpy(rec.arrays["weight"])
        state[f"{names[id(m)]}.bias"] = torch.from_numpy(rec.arrays["bias"])
    for m, rec in zip(affines, net.of_kind("affine")):
        n = names[id(m)]
        c = rec.arrays["gamma"].size
        state.update({f"{n}.weight": torch.from_numpy(rec.arrays["gamma"]), f"{n}.bias": torch.from_numpy(rec.arrays["beta"]),
                      f"{n}.running_mean": torch.zeros(c), f"{n}.running_var": torch.ones(c),
                      f"{n}.num_batches_tracked": torch.tensor(0)})
    state["fc.weight"] = torch.from_numpy(np.ascontiguousarray(net.of_kind("fc")[0].arrays["weight"].T))
    model.load_state_dict(state, strict=True)  # shapes checked here
    return state, model.cfg
