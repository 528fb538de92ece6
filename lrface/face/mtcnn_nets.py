"""The three MTCNN networks (Zhang et al., 2016) and their weight loader.

The layer names and shapes match the state dicts shipped in the ``facenet-pytorch`` wheel
(``pnet.pt``, ``rnet.pt``, ``onet.pt``), which were converted from the original Caffe models.
Only those weight files are used; none of facenet-pytorch's code is imported.

Input convention for all three nets: RGB, NCHW, float32 scaled as ``(x - 127.5) * 0.0078125``
(see :func:`normalize`), rows = image y, columns = image x.

Nothing is loaded at import time; :func:`load_state_dicts` reads the files on demand.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
from torch import nn
from torch.nn import functional as F

from lrface.errors import WeightsError

logger = logging.getLogger(__name__)

#: Environment variable naming a folder that holds ``pnet.pt``, ``rnet.pt``, ``onet.pt``.
WEIGHTS_ENV = "LRFACE_MTCNN_DIR"
INSTALL_HINT = "pip install --no-deps facenet-pytorch==2.6.0"
_NAMES = ("pnet", "rnet", "onet")

#: Pixel normalisation the Caffe MTCNN was trained with.
PIXEL_MEAN = 127.5
PIXEL_SCALE = 0.0078125


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Map raw 0..255 pixel values to the nets' input range (about -1..1)."""
    return (x - PIXEL_MEAN) * PIXEL_SCALE


def _face_prob(logits: torch.Tensor) -> torch.Tensor:
    # softmax over 2 classes, index 1 = face; sigmoid of the logit difference is the same value
    # and one cheap op instead of a channel-wise softmax (slow on small channels_last maps).
    return torch.sigmoid(logits[:, 1] - logits[:, 0])


def _flatten_caffe(x: torch.Tensor) -> torch.Tensor:
    # The dense-layer weights in these files expect features flattened in (W, H, C) order
    # (a legacy of the Caffe -> TensorFlow -> PyTorch conversion). Verified empirically on
    # aligned LFW faces: (W, H, C) gives O-Net face probability ~1.0 and landmarks within
    # ~1-2 px of the true points; (C, H, W) / (C, W, H) give ~3.5-8 px errors.
    return x.permute(0, 3, 2, 1).flatten(1)


class PNet(nn.Module):
    """Proposal net: fully convolutional, 12x12 receptive field, stride 2.

    ``forward`` returns ``(prob, reg)``: face probability (N, H', W') and box offsets
    (N, 4, H', W') as (dx1, dy1, dx2, dy2) in units of the 12-pixel window.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, 3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, 3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        prob = _face_prob(self.conv4_1(x))
        return prob, self.conv4_2(x)


class RNet(nn.Module):
    """Refinement net on 24x24 crops: returns ``(prob (N,), reg (N, 4))``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, 3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, 3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, 2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_flatten_caffe(x)))
        prob = _face_prob(self.dense5_1(x))
        return prob, self.dense5_2(x)


class ONet(nn.Module):
    """Output net on 48x48 crops: returns ``(prob (N,), reg (N, 4), landmarks (N, 10))``.

    Landmarks are 5 x-offsets then 5 y-offsets, as fractions of the crop's width/height.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, 2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(_flatten_caffe(x)))
        prob = _face_prob(self.dense6_1(x))
        return prob, self.dense6_2(x), self.dense6_3(x)


def default_weights_dir() -> Optional[Path]:
    """Folder with the MTCNN weight files: ``$LRFACE_MTCNN_DIR``, else facenet-pytorch's ``data/``.

    Returns ``None`` when neither is available. Locating the installed package uses
    ``importlib.util.find_spec`` only, so facenet-pytorch (and its torchvision import) never runs.
    """
    from lrface.settings import mtcnn_weights_dir

    env = mtcnn_weights_dir()
    if env is not None:
        return env
    try:
        spec = importlib.util.find_spec("facenet_pytorch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@functools.lru_cache(maxsize=4)
def _load_cached(folder: str) -> Dict[str, Dict[str, torch.Tensor]]:
    out = {}
    for name in _NAMES:
        path = Path(folder) / f"{name}.pt"
        if not path.is_file():
            raise WeightsError(
                f"MTCNN weight file {path} not found. Install the weights with "
                f"`{INSTALL_HINT}` or point ${WEIGHTS_ENV} at a folder holding "
                "pnet.pt, rnet.pt and onet.pt."
            )
        try:
            out[name] = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt or foreign file: say which one
            raise WeightsError(f"could not read MTCNN weights {path}: {exc}") from exc
        logger.debug("loaded MTCNN weights %s", path)
    return out


def load_state_dicts(
    weights_dir: Union[str, Path, None] = None,
) -> Dict[str, Dict[str, torch.Tensor]]:
    """Read ``{"pnet": sd, "rnet": sd, "onet": sd}`` (CPU tensors; cached per folder).

    Args:
        weights_dir: folder holding the three ``.pt`` files; ``None`` uses
            :func:`default_weights_dir`.

    Returns:
        Dict of plain state dicts. Treat them as read-only: they are shared via a cache.

    Raises:
        WeightsError: the files are missing or unreadable (message says how to install them).

    Example:
        >>> sds = load_state_dicts()  # doctest: +SKIP
        >>> sorted(sds)  # doctest: +SKIP
        ['onet', 'pnet', 'rnet']
    """
    folder = Path(weights_dir).expanduser() if weights_dir is not None else default_weights_dir()
    if folder is None:
        raise WeightsError(
            f"MTCNN weights not found: install them with `{INSTALL_HINT}` "
            f"or set ${WEIGHTS_ENV} to a folder holding pnet.pt, rnet.pt and onet.pt."
        )
    return _load_cached(str(folder.resolve()))
