"""Photo -> aligned face in one call: read, detect, pick one face, align.

Shared by ``lrface-prepare`` and the embedding API so both crop faces the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np

from lrface.face.align import SizeLike, align
from lrface.face.detect import Face, MTCNN, get_detector, select_face

#: Policies for photos with several faces (see :func:`lrface.face.detect.select_face`).
POLICIES = ("largest", "central", "best")


@dataclass(frozen=True)
class AlignedFace:
    """An aligned crop and the detection it came from."""

    image: np.ndarray  # (h, w, 3) uint8 RGB on the ArcFace template
    face: Face  # box / landmarks / score in the source image
    num_faces: int  # how many faces the detector found in the photo


def detect_and_align(
    image: np.ndarray,
    *,
    detector: Optional[MTCNN] = None,
    policy: str = "largest",
    size: SizeLike = 112,
    min_face_size: int = 20,
    pad_retry: float = 0.0,
) -> Optional[AlignedFace]:
    """Detect faces in ``image``, choose one by ``policy`` and align it.

    Args:
        image: HxWx3 uint8 RGB.
        detector: a ready :class:`MTCNN`; by default a cached one for ``min_face_size``.
        policy: ``"largest"``, ``"central"`` or ``"best"`` when several faces are found.
        size: output crop size (112 or (112, 96)).
        min_face_size: smallest face (px) searched for when no detector is given.
        pad_retry: if no face is found, pad each side by this fraction of the image size
            (edge-replicated) and try once more. Faces that fill the whole frame (tight
            crops such as ORL or Pins) lack the context MTCNN's P-Net needs; padding
            restores it. 0 disables the retry.

    Returns:
        An :class:`AlignedFace`, or ``None`` when no face is found.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown face policy {policy!r}; choose one of {', '.join(POLICIES)}")
    det = detector or get_detector(min_face_size=min_face_size)
    faces = det.detect([image])[0]
    if not faces and pad_retry > 0:
        faces = _detect_padded(det, image, pad_retry)
    chosen = select_face(faces, image.shape, policy=policy)
    if chosen is None:
        return None
    return AlignedFace(align(image, chosen.landmarks, size), chosen, len(faces))


def align_known(image: np.ndarray, landmarks: Sequence[Sequence[float]], size: SizeLike = 112) -> np.ndarray:
    """Align with landmarks supplied by the caller (datasets that ship them); no detection runs."""
    return align(image, np.asarray(landmarks, dtype=np.float64).reshape(5, 2), size)


def _detect_padded(det: MTCNN, image: np.ndarray, frac: float) -> list:
    """Detect on an edge-padded copy and shift the results back to ``image`` coordinates."""
    h, w = image.shape[:2]
    py, px = int(round(h * frac)), int(round(w * frac))
    padded = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_REPLICATE)
    shift = np.array([px, py], dtype=np.float32)
    return [
        Face(f.box - np.tile(shift, 2), f.landmarks - shift, f.score)
        for f in det.detect([padded])[0]
    ]
