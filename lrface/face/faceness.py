"""Is a small crop a face at all? A tiny classifier for inputs too small for the detector.

A camera crop of 12-48 px reaches ``lrface.embed()`` without the context MTCNN needs, so it is
taken as a face crop; before this check, a uniform gray patch or a noise patch was "a face"
with a high quality score and two identical gray patches verified as the same person. This
module's :class:`FacenessNet` (about 25 k parameters, 24x24 input) scores how face-like a crop
is. It is trained by ``benchmarks/train_faceness.py`` on degraded CelebA faces at many framings
(the ArcFace crop, a detector's box, a loose box with margin, shifted) against non-faces:
uniform and gradient patches, noise, stripes and checkerboards, patches of natural images
and the background corners of aligned face crops; its threshold is set on held-out faces and
patches. ``benchmarks/faceness_check.py`` measures it on LFW faces and on non-face patches it
never saw.

Example:
    >>> import numpy as np
    >>> p = faceness([np.full((16, 16, 3), 128, np.uint8)])   # doctest: +SKIP
    >>> bool(p[0] < FACENESS_THRESHOLD)                       # doctest: +SKIP
    True
"""
from __future__ import annotations

from typing import List, Sequence

import cv2
import numpy as np
import torch
from torch import nn

__all__ = ["FacenessNet", "faceness", "prepare_crops", "INPUT", "FACENESS_THRESHOLD", "SHIPPED", "SHIPPED_SHA256"]

#: Side of the classifier's input.
INPUT = 24
#: The shipped weights (``lrface/weights``) and their sha256.
SHIPPED = "faceness24.pt"
SHIPPED_SHA256 = "ced85b9c7baef87a79f21ac7f600c3859e71b4585c63d9bccfe19641287a202f"
#: A crop is a face when its face-ness is at least this (set on validation by
#: ``benchmarks/train_faceness.py``; recorded in ``benchmarks/results/faceness_train.json``).
FACENESS_THRESHOLD = 0.9301


class FacenessNet(nn.Module):
    """Three conv stages (16, 32, 64 channels) on a 24x24 RGB crop, global pooling, one logit."""

    def __init__(self) -> None:
        super().__init__()

        def stage(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                 nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.features = nn.Sequential(stage(3, 16), nn.MaxPool2d(2), stage(16, 32), nn.MaxPool2d(2), stage(32, 64))
        self.head = nn.Linear(64 * 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, 24, 24) in [-1, 1] -> (N,) logits
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return self.head(pooled).squeeze(1)


def prepare_crops(crops: Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 RGB crops of any size -> the classifier's input ``(N, 3, 24, 24)`` in [-1, 1]
    (area to shrink, bicubic to enlarge, as the one LR path resamples)."""
    out = np.empty((len(crops), INPUT, INPUT, 3), np.float32)
    for i, c in enumerate(crops):
        c = np.asarray(c)
        if c.ndim == 2:
            c = np.repeat(c[:, :, None], 3, axis=2)
        interp = cv2.INTER_AREA if min(c.shape[:2]) >= INPUT else cv2.INTER_CUBIC
        out[i] = cv2.resize(c, (INPUT, INPUT), interpolation=interp)
    return torch.from_numpy(out).permute(0, 3, 1, 2).sub(127.5).div(127.5).contiguous()


_LOADED: dict = {}


def load_faceness() -> FacenessNet:
    """The shipped classifier (sha256-checked, ``weights_only``), loaded once."""
    if "net" not in _LOADED:
        import hashlib
        from importlib.resources import files
        from pathlib import Path

        from lrface.errors import WeightsError

        path = Path(str(files("lrface") / "weights" / SHIPPED))
        if not path.is_file():
            raise WeightsError(f"{path} is missing: reinstall lrface (or retrain it: benchmarks/train_faceness.py)")
        if hashlib.sha256(path.read_bytes()).hexdigest() != SHIPPED_SHA256:
            raise WeightsError(f"sha256 mismatch for {path}: the file is corrupt or was modified; reinstall lrface")
        net = FacenessNet()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        _LOADED["net"] = net.eval()
    return _LOADED["net"]


@torch.inference_mode()
def faceness(crops: Sequence[np.ndarray], net: "FacenessNet | None" = None, batch_size: int = 512) -> np.ndarray:
    """Face-ness in [0, 1] of each crop (uint8 RGB, any size); a face when at least
    :data:`FACENESS_THRESHOLD`."""
    net = net or load_faceness()
    out: List[np.ndarray] = []
    for s in range(0, len(crops), batch_size):
        out.append(torch.sigmoid(net(prepare_crops(crops[s:s + batch_size]))).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)
