"""MTCNN face detection (Zhang et al., "Joint Face Detection and Alignment using Multitask
Cascaded Convolutional Networks", IEEE SPL 2016).

Cascade: P-Net over an image pyramid (scale factor ``factor`` starting at ``12 / min_face_size``)
proposes windows; R-Net (24x24 crops) and O-Net (48x48 crops, + five landmarks) refine them.
Each stage thresholds the face probability, applies non-maximum suppression, regresses the
box and squares it. The weights are the original Caffe models as shipped (plain state dicts)
in the ``facenet-pytorch`` wheel; see :mod:`lrface.face.mtcnn_nets`.

Coordinates: boxes are ``(x1, y1, x2, y2)`` with ``x2`` exclusive (width = ``x2 - x1``), in
the input image's pixels; they may extend past the image border (not clipped), because the
face does. Landmarks are (x, y) in the same frame, in the order used everywhere in lrface:
left eye, right eye, nose, left mouth corner, right mouth corner ("left" = smaller x).

Batching: images are processed in chunks of similar size. Within a chunk, every pyramid level
is one P-Net call (images zero-padded to a common size; outputs whose 12x12 window reaches into
the padding are discarded, so batching never changes a result). R-Net and O-Net crops of all
images of a chunk are cut in one vectorised step from per-image summed-area tables (exact area
interpolation, as cv2's INTER_AREA; zero-padded outside the image, as in the reference
implementation), with no Python loop over boxes.

Speed note: on a CPU shared with other busy processes, torch's intra-op threads spend most of
their time waiting for each other on these small tensors; a driver that runs several worker
processes should call ``torch.set_num_threads(1)`` in each (this module never changes global
state). Large batches (a few hundred images per call) amortise per-call overhead.

Example:
    >>> from lrface.face.detect import detect
    >>> faces = detect(rgb_uint8_image)  # doctest: +SKIP
    >>> faces[0].box, faces[0].landmarks, faces[0].score  # doctest: +SKIP
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lrface.face.mtcnn_nets import (
    PIXEL_MEAN,
    PIXEL_SCALE,
    ONet,
    PNet,
    RNet,
    default_weights_dir,
    load_state_dicts,
    normalize,
)
from lrface.face.nms import batched_nms, nms

__all__ = ["Face", "MTCNN", "get_detector", "detect", "nms", "select_face"]

logger = logging.getLogger(__name__)

DeviceLike = Union[str, torch.device, None]
Thresholds = Tuple[float, float, float]

_PNET_STRIDE = 2
_PNET_CELL = 12
# Chunking budgets: bound memory whatever the input size, while keeping calls few.
_CHUNK_PIXELS = 2_000_000  # input pixels per image chunk
_CHUNK_PAD_WASTE = 1.3  # allowed padded-area / real-area ratio within a chunk
_CROP_ELEMS = 1 << 19  # box corners per resampling call (x3 channels x8 bytes = 12 MiB a buffer)
_NET_BATCH = 1024  # crops per R-Net / O-Net forward


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face.

    Attributes:
        box: (4,) float32 ``x1, y1, x2, y2`` in image pixels (x2, y2 exclusive; may extend past
            the image).
        landmarks: (5, 2) float32 (x, y): left eye, right eye, nose, left mouth corner,
            right mouth corner.
        score: O-Net face probability in [0, 1].

    Example:
        >>> f = Face(np.array([10, 20, 50, 60], np.float32), np.zeros((5, 2), np.float32), 0.99)
        >>> f.width, f.height, f.area, f.center
        (40.0, 40.0, 1600.0, (30.0, 40.0))
    """

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> Tuple[float, float]:
        return (float(self.box[0] + self.box[2]) / 2.0, float(self.box[1] + self.box[3]) / 2.0)

    def __repr__(self) -> str:
        b = ", ".join(f"{v:.1f}" for v in self.box)
        return f"Face(box=[{b}], score={self.score:.4f})"


# ----------------------------------------------------------------------------- input handling


def _as_image(img: object, index: int) -> np.ndarray:
    """Validate one image; return it as float32 HxWx3 in 0..255 (a view when possible)."""
    if not isinstance(img, np.ndarray):
        raise ValueError(f"image {index}: expected a numpy array, got {type(img).__name__}")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(
            f"image {index}: expected an HxWx3 RGB array, got shape {img.shape} "
            "(convert grayscale with np.repeat(img[..., None], 3, axis=2))"
        )
    if img.dtype == np.uint8:
        return img.astype(np.float32)
    if np.issubdtype(img.dtype, np.floating):
        # Float images are accepted only in [0, 1] (the skimage/PIL-to-float convention), so a
        # float 0..255 array is never silently misread as nearly white.
        if img.size and not np.isfinite(img).all():
            raise ValueError(f"image {index}: float image contains NaN or inf")
        if img.size and (img.min() < 0.0 or img.max() > 1.0):
            raise ValueError(
                f"image {index}: float images must be in [0, 1] (got range "
                f"{img.min():.3g}..{img.max():.3g}); pass uint8 0..255 instead"
            )
        return img.astype(np.float32) * 255.0
    raise ValueError(f"image {index}: expected dtype uint8 (or float in [0, 1]), got {img.dtype}")


def _pad_amount(h: int, w: int, pad: Union[int, float]) -> int:
    if isinstance(pad, float):
        if not 0.0 <= pad <= 2.0:
            raise ValueError(f"pad as a fraction must be in [0, 2], got {pad}")
        return int(round(pad * max(h, w)))
    if int(pad) < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    return int(pad)


# ----------------------------------------------------------------------------- box helpers


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    # Offsets are fractions of the box's width/height (Zhang et al., Eq. 2).
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    h = (boxes[:, 3] - boxes[:, 1])[:, None]
    return boxes + reg * np.concatenate([w, h, w, h], axis=1)


def _square(boxes: np.ndarray) -> np.ndarray:
    # R-Net/O-Net take square crops; grow the short side around the box centre.
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    cx = boxes[:, 0] + w / 2.0
    cy = boxes[:, 1] + h / 2.0
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def _valid(boxes: np.ndarray, img: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    # A regression can, rarely, produce an empty or non-finite box: drop it, never crash.
    ok = np.isfinite(boxes).all(1) & (boxes[:, 2] - boxes[:, 0] > 1e-3) & (boxes[:, 3] - boxes[:, 1] > 1e-3)
    return boxes[ok], img[ok]


class _Atlas:
    """Per-image summed-area tables of a chunk, side by side in one flat float64 tensor.

    Resampling a rectangle to ``oh x ow`` pixels by exact *area* interpolation needs only the
    ``(oh+1) x (ow+1)`` box corners: the summed-area table of a piecewise-constant image is
    bilinear inside each pixel, so bilinear lookups of it are exact, and each output pixel is
    a 4-corner difference divided by its footprint. Clamping corners to the image (and
    dividing by the unclamped footprint) makes everything outside the image count as zero,
    i.e. zero-padded crops, as in the reference MTCNN. One call handles any number of boxes of
    any sizes (downscaling or upscaling) with no Python loop over boxes. float64 keeps the
    corner differences exact to well below a grey level even for large images.
    """

    def __init__(self, images: Sequence[np.ndarray], device: torch.device) -> None:
        self.h = np.array([im.shape[0] for im in images], dtype=np.int64)
        self.w = np.array([im.shape[1] for im in images], dtype=np.int64)
        self.x_off = np.concatenate([[0], np.cumsum(self.w + 1)[:-1]]).astype(np.int64)
        self.stride = int((self.w + 1).sum())
        sat = np.zeros((int(self.h.max()) + 1, self.stride, 3), np.float64)
        for im, x0 in zip(images, self.x_off):
            h, w = im.shape[:2]
            block = sat[1 : h + 1, x0 + 1 : x0 + w + 1]
            np.cumsum(im, axis=0, dtype=np.float64, out=block)
            np.cumsum(block, axis=1, out=block)
        self.flat = torch.from_numpy(sat.reshape(-1, 3)).to(device)

    def resample(self, boxes: np.ndarray, idx: np.ndarray, oh: int, ow: int) -> torch.Tensor:
        """Area-resample ``boxes`` (image coords) of images ``idx`` to (N, 3, oh, ow) raw 0..255.

        The result is float32 in channels_last memory layout (what the nets run fastest on).
        """
        n = len(boxes)
        out = torch.empty((n, oh, ow, 3), dtype=torch.float32, device=self.flat.device)
        per_call = max(1, _CROP_ELEMS // ((oh + 1) * (ow + 1)))
        for a in range(0, n, per_call):
            out[a : a + per_call] = self._resample(boxes[a : a + per_call], idx[a : a + per_call], oh, ow)
        return out.permute(0, 3, 1, 2)

    def _resample(self, boxes: np.ndarray, idx: np.ndarray, oh: int, ow: int) -> torch.Tensor:
        boxes = np.asarray(boxes, dtype=np.float64)
        w = self.w[idx][:, None]
        h = self.h[idx][:, None]
        xs = np.clip(boxes[:, 0:1] + np.arange(ow + 1) / ow * (boxes[:, 2:3] - boxes[:, 0:1]), 0, w)
        ys = np.clip(boxes[:, 1:2] + np.arange(oh + 1) / oh * (boxes[:, 3:4] - boxes[:, 1:2]), 0, h)
        x0 = np.minimum(np.floor(xs), w - 1)
        y0 = np.minimum(np.floor(ys), h - 1)
        dev = self.flat.device
        fx = torch.from_numpy(xs - x0).to(dev)[:, None, :, None]
        fy = torch.from_numpy(ys - y0).to(dev)[:, :, None, None]
        cols = x0.astype(np.int64) + self.x_off[idx][:, None]
        base = (y0.astype(np.int64) * self.stride)[:, :, None] + cols[:, None, :]
        base_t = torch.from_numpy(base).to(dev)
        f = self.flat
        top = torch.lerp(f[base_t], f[base_t + 1], fx)
        bottom = torch.lerp(f[base_t + self.stride], f[base_t + self.stride + 1], fx)
        v = torch.lerp(top, bottom, fy)
        sums = v[:, 1:, 1:] - v[:, :-1, 1:] - v[:, 1:, :-1] + v[:, :-1, :-1]
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / (oh * ow)
        return (sums / torch.from_numpy(area).to(dev)[:, None, None, None]).float()

    def crops(self, boxes: np.ndarray, img_idx: np.ndarray, size: int) -> torch.Tensor:
        """Normalised (N, 3, size, size) net inputs for square ``boxes``."""
        return normalize(self.resample(boxes, img_idx, size, size))


# ----------------------------------------------------------------------------- the detector


class MTCNN(nn.Module):
    """The three-stage MTCNN cascade.

    The constructor only builds the networks (no I/O, as everywhere in lrface); weights are
    read on the first :meth:`detect` call or by :meth:`load`. :func:`get_detector` returns a
    cached, already loaded instance.

    Args:
        min_face_size: smallest face side (pixels) searched for; values below 12 upsample.
        thresholds: face-probability thresholds of P-Net, R-Net and O-Net.
        factor: image pyramid scale step, in (0, 1).
        device: torch device; ``None`` means CPU.
        weights_dir: folder with ``pnet.pt``/``rnet.pt``/``onet.pt``; ``None`` uses
            ``$LRFACE_MTCNN_DIR`` or the installed facenet-pytorch wheel.

    Example:
        >>> det = MTCNN(min_face_size=20)  # doctest: +SKIP
        >>> faces_per_image = det.detect([img1, img2])  # doctest: +SKIP
    """

    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        device: DeviceLike = None,
        weights_dir: Union[str, Path, None] = None,
    ) -> None:
        super().__init__()
        if not min_face_size > 0:
            raise ValueError(f"min_face_size must be > 0, got {min_face_size}")
        th = tuple(float(t) for t in thresholds)
        if len(th) != 3 or not all(0.0 <= t <= 1.0 for t in th):
            raise ValueError(f"thresholds must be three probabilities, got {thresholds!r}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        self.min_face_size = float(min_face_size)
        self.thresholds: Thresholds = th  # type: ignore[assignment]
        self.factor = float(factor)
        self.weights_dir = weights_dir
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        self._loaded = False
        self.to(torch.device(device) if device is not None else torch.device("cpu"))
        self.eval()

    @property
    def device(self) -> torch.device:
        """Where the nets live (follows ``.to(...)``)."""
        return self.pnet.conv1.weight.device

    def load(self) -> "MTCNN":
        """Read the weights (once). Raises :class:`~lrface.errors.WeightsError` if missing."""
        if not self._loaded:
            sds = load_state_dicts(self.weights_dir)
            self.pnet.load_state_dict(sds["pnet"])
            self.rnet.load_state_dict(sds["rnet"])
            self.onet.load_state_dict(sds["onet"])
            # channels_last halves CPU time of these small nets (PReLU/max-pool dominate).
            self.to(memory_format=torch.channels_last)
            self._loaded = True
        return self

    def forward(self, images: Sequence[np.ndarray]) -> List[List[Face]]:  # noqa: D102
        return self.detect(images)

    def scales(self, height: int, width: int) -> List[float]:
        """Pyramid scales for an image: ``12/min_face_size * factor**k`` while the short side >= 12."""
        out = []
        scale = 12.0 / self.min_face_size
        minl = min(height, width) * scale
        while minl >= _PNET_CELL:
            out.append(scale)
            scale *= self.factor
            minl *= self.factor
        return out

    def detect(
        self, images: Union[Sequence[np.ndarray], np.ndarray], pad: Union[int, float] = 0
    ) -> List[List[Face]]:
        """Detect faces in a batch of images.

        Args:
            images: a list of HxWx3 RGB arrays (sizes may differ), or an (N, H, W, 3) array;
                uint8 0..255, or float in [0, 1] (scaled by 255). A single HxWx3 array is
                taken as a batch of one.
            pad: black border added around each image before detection and removed from the
                results (int: pixels; float: fraction of the longer side). Helps when a face
                fills the whole frame (see :func:`detect`).

        Returns:
            One list of :class:`Face` per image, sorted by score (descending); empty when
            nothing is found, when the image is blank, or when its short side is below
            ``min(12, min_face_size)`` pixels.

        Raises:
            ValueError: an image is not HxWx3 uint8 (or float in [0, 1]).
        """
        if isinstance(images, np.ndarray):
            images = [images] if images.ndim == 3 else list(images)
        arrs = [_as_image(im, i) for i, im in enumerate(images)]
        if pad:
            pads = [_pad_amount(a.shape[0], a.shape[1], pad) for a in arrs]
            arrs = [np.pad(a, ((p, p), (p, p), (0, 0))) for a, p in zip(arrs, pads)]
        else:
            pads = [0] * len(arrs)
        results: List[List[Face]] = [[] for _ in arrs]
        todo = [i for i, a in enumerate(arrs) if self.scales(a.shape[0], a.shape[1])]
        if not todo:
            return results
        self.load()
        with torch.inference_mode():
            for chunk in _chunks(todo, [arrs[i].shape[:2] for i in todo]):
                dets = self._detect_chunk([arrs[i] for i in chunk])
                for i, (boxes, scores, lms) in zip(chunk, dets):
                    p = pads[i]
                    results[i] = [
                        Face(box=b - p, landmarks=lm - p, score=float(s))
                        for b, s, lm in zip(boxes, scores, lms)
                    ]
        return results

    # -- stages ------------------------------------------------------------------------------

    def _detect_chunk(self, images: List[np.ndarray]) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        boxes, img_idx = self._stage_pnet(images)
        if len(boxes):
            atlas = _Atlas(images, self.device)
            boxes, img_idx = self._stage_rnet(atlas, boxes, img_idx)
        if len(boxes):
            boxes, scores, lms, img_idx = self._stage_onet(atlas, boxes, img_idx)
        else:
            scores, lms = np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        out = []
        for i in range(len(images)):
            sel = np.flatnonzero(img_idx == i)
            sel = sel[np.argsort(-scores[sel], kind="stable")]
            out.append((boxes[sel].astype(np.float32), scores[sel], lms[sel].astype(np.float32)))
        return out

    def _stage_pnet(self, images: List[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        dev = self.device
        img_h = np.array([im.shape[0] for im in images], dtype=np.int64)
        img_w = np.array([im.shape[1] for im in images], dtype=np.int64)
        n_levels = np.array([len(self.scales(h, w)) for h, w in zip(img_h, img_w)])
        scale = 12.0 / self.min_face_size
        all_boxes, all_scores, all_reg, all_img = [], [], [], []
        for level in range(int(n_levels.max())):
            active = np.flatnonzero(n_levels > level)
            # Same rounding as a single-image run: ceil of the scaled size.
            hs = np.ceil(img_h[active] * scale).astype(np.int64)
            ws = np.ceil(img_w[active] * scale).astype(np.int64)
            hmax, wmax = int(hs.max()), int(ws.max())
            interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            per_call = max(1, _CHUNK_PIXELS // (hmax * wmax))
            for a in range(0, len(active), per_call):
                rows = slice(a, a + per_call)
                idx = active[rows]
                # Images of different sizes are zero-padded to a common hmax x wmax; windows
                # reaching into the padding are discarded below, so batching never changes a
                # result. cv2's area resize is exact area averaging and much cheaper than torch's.
                batch = np.zeros((len(idx), hmax, wmax, 3), np.float32)
                for k, (i_img, h_, w_) in enumerate(zip(idx, hs[rows], ws[rows])):
                    batch[k, :h_, :w_] = cv2.resize(images[i_img], (int(w_), int(h_)), interpolation=interp)
                batch -= PIXEL_MEAN
                batch *= PIXEL_SCALE
                # NHWC memory viewed as NCHW is exactly the channels_last layout.
                batch_t = torch.from_numpy(batch).permute(0, 3, 1, 2).to(dev)
                prob, reg = self.pnet(batch_t)
                # Output (i, j) sees input rows 2i..2i+11: keep windows inside the real image.
                lim_r = torch.from_numpy((hs[rows] - _PNET_CELL) // _PNET_STRIDE + 1).to(dev)
                lim_c = torch.from_numpy((ws[rows] - _PNET_CELL) // _PNET_STRIDE + 1).to(dev)
                r_ = torch.arange(prob.shape[1], device=dev)[None, :, None]
                c_ = torch.arange(prob.shape[2], device=dev)[None, None, :]
                inside = (r_ < lim_r[:, None, None]) & (c_ < lim_c[:, None, None])
                mask = (prob >= self.thresholds[0]) & inside
                b, i, j = torch.nonzero(mask, as_tuple=True)
                if not len(b):
                    continue
                sc = prob[b, i, j].cpu().numpy()
                rg = reg[b, :, i, j].cpu().numpy()
                ij = torch.stack([j, i], 1).cpu().numpy().astype(np.float64)
                x1y1 = ij * _PNET_STRIDE / scale
                bx = np.concatenate([x1y1, x1y1 + _PNET_CELL / scale], axis=1)
                img = idx[b.cpu().numpy()]
                keep = batched_nms(bx, sc, img, 0.5, "union")
                all_boxes.append(bx[keep])
                all_scores.append(sc[keep])
                all_reg.append(rg[keep])
                all_img.append(img[keep])
            scale *= self.factor
        if not all_boxes:
            return np.zeros((0, 4)), np.zeros(0, np.int64)
        bx, sc = np.concatenate(all_boxes), np.concatenate(all_scores)
        rg, img = np.concatenate(all_reg), np.concatenate(all_img)
        keep = batched_nms(bx, sc, img, 0.7, "union")
        return _valid(_square(_regress(bx[keep], rg[keep].astype(np.float64))), img[keep])

    def _stage_rnet(
        self, atlas: _Atlas, boxes: np.ndarray, img: np.ndarray
    ) -> Tuple[np.ndarray, np.ndarray]:
        probs, regs = [], []
        for a in range(0, len(boxes), _NET_BATCH):
            p, r = self.rnet(atlas.crops(boxes[a : a + _NET_BATCH], img[a : a + _NET_BATCH], 24))
            probs.append(p.cpu().numpy())
            regs.append(r.cpu().numpy())
        prob, reg = np.concatenate(probs), np.concatenate(regs).astype(np.float64)
        ok = np.flatnonzero(prob >= self.thresholds[1])
        boxes, img, prob, reg = boxes[ok], img[ok], prob[ok], reg[ok]
        keep = batched_nms(boxes, prob, img, 0.7, "union")
        return _valid(_square(_regress(boxes[keep], reg[keep])), img[keep])

    def _stage_onet(
        self, atlas: _Atlas, boxes: np.ndarray, img: np.ndarray
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        probs, regs, lms = [], [], []
        for a in range(0, len(boxes), _NET_BATCH):
            p, r, lm = self.onet(atlas.crops(boxes[a : a + _NET_BATCH], img[a : a + _NET_BATCH], 48))
            probs.append(p.cpu().numpy())
            regs.append(r.cpu().numpy())
            lms.append(lm.cpu().numpy())
        prob = np.concatenate(probs)
        reg = np.concatenate(regs).astype(np.float64)
        lm = np.concatenate(lms).astype(np.float64)
        ok = np.flatnonzero(prob >= self.thresholds[2])
        boxes, img, prob, reg, lm = boxes[ok], img[ok], prob[ok], reg[ok], lm[ok]
        # Landmarks are relative to the O-Net input box (before its regression):
        # 5 x-fractions of the width, then 5 y-fractions of the height.
        w = (boxes[:, 2] - boxes[:, 0])[:, None]
        h = (boxes[:, 3] - boxes[:, 1])[:, None]
        pts = np.stack([boxes[:, 0:1] + w * lm[:, :5], boxes[:, 1:2] + h * lm[:, 5:]], axis=2)
        boxes = _regress(boxes, reg)
        ok = np.isfinite(boxes).all(1) & np.isfinite(pts).all((1, 2))
        ok &= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, img, prob, pts = boxes[ok], img[ok], prob[ok], pts[ok]
        keep = batched_nms(boxes, prob, img, 0.7, "min")
        return boxes[keep], prob[keep].astype(np.float32), pts[keep], img[keep]


def _chunks(indices: List[int], shapes: List[Tuple[int, int]]) -> List[List[int]]:
    """Group images of similar size so padding to a common size wastes little work."""
    order = sorted(range(len(indices)), key=lambda k: (shapes[k][0] * shapes[k][1], shapes[k]))
    chunks: List[List[int]] = []
    cur: List[int] = []
    area = hmax = wmax = 0
    for k in order:
        h, w = shapes[k]
        nh, nw, na = max(hmax, h), max(wmax, w), area + h * w
        padded = nh * nw * (len(cur) + 1)
        if cur and (padded > _CHUNK_PIXELS or padded > _CHUNK_PAD_WASTE * na):
            chunks.append(cur)
            cur, area, hmax, wmax = [], 0, 0, 0
            nh, nw, na = h, w, h * w
        cur.append(indices[k])
        area, hmax, wmax = na, nh, nw
    if cur:
        chunks.append(cur)
    return chunks


# ----------------------------------------------------------------------------- functional API


@functools.lru_cache(maxsize=8)
def _cached_detector(
    min_face_size: float, thresholds: Thresholds, factor: float, device: str, wdir: str
) -> MTCNN:
    return MTCNN(min_face_size, thresholds, factor, device, wdir or None).load()


def get_detector(
    min_face_size: int = 20,
    thresholds: Sequence[float] = (0.6, 0.7, 0.7),
    factor: float = 0.709,
    device: DeviceLike = None,
) -> MTCNN:
    """A loaded :class:`MTCNN`, cached per arguments so repeated calls do not reload weights.

    Example:
        >>> get_detector() is get_detector()  # doctest: +SKIP
        True
    """
    dev = str(torch.device(device)) if device is not None else "cpu"
    wdir = default_weights_dir()
    return _cached_detector(
        float(min_face_size), tuple(float(t) for t in thresholds), float(factor), dev, str(wdir or "")
    )


def detect(
    images: Union[np.ndarray, Sequence[np.ndarray]],
    min_face_size: int = 20,
    thresholds: Sequence[float] = (0.6, 0.7, 0.7),
    factor: float = 0.709,
    device: DeviceLike = None,
    pad: Union[int, float] = 0,
) -> Union[List[Face], List[List[Face]]]:
    """Detect faces with a cached MTCNN.

    Args:
        images: one HxWx3 RGB array, or a list of them / an (N, H, W, 3) array
            (uint8, or float in [0, 1]).
        min_face_size, thresholds, factor, device: see :class:`MTCNN`.
        pad: black border added before detection (int pixels, or float fraction of the longer
            side) and removed from the results. MTCNN needs some context around a face: when a
            face fills the frame (e.g. ORL, tight crops) use ``pad=0.25``.

    Returns:
        For one image, its list of :class:`Face` (best first); for a batch, one such list per
        image.

    Example:
        >>> faces = detect(img)  # doctest: +SKIP
        >>> best = select_face(faces, img.shape, "largest")  # doctest: +SKIP
    """
    det = get_detector(min_face_size, thresholds, factor, device)
    if isinstance(images, np.ndarray) and images.ndim == 3:
        return det.detect([images], pad=pad)[0]
    return det.detect(images, pad=pad)


_POLICIES = ("largest", "central", "best")


def select_face(
    faces: Sequence[Face], image_shape: Sequence[int], policy: str = "largest"
) -> Optional[Face]:
    """Pick one face out of several.

    Args:
        faces: detections of one image.
        image_shape: the image's ``(H, W)`` or ``(H, W, C)``.
        policy: ``"largest"`` (box area), ``"best"`` (score), or ``"central"``: box area minus
            twice the squared distance from the box centre to the image centre (the heuristic of
            insightface's detectors), so a big face near the centre wins over a slightly bigger
            one at the edge.

    Returns:
        The chosen face, or ``None`` when ``faces`` is empty.

    Example:
        >>> select_face([], (112, 112)) is None
        True
    """
    if policy not in _POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose one of {_POLICIES}")
    if not faces:
        return None
    if policy == "largest":
        values = [f.area for f in faces]
    elif policy == "best":
        values = [f.score for f in faces]
    else:
        cy, cx = image_shape[0] / 2.0, image_shape[1] / 2.0
        values = [f.area - 2.0 * ((f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2) for f in faces]
    return faces[int(np.argmax(values))]
