"""Photo -> aligned face in one call: read, detect, pick one face, align.

Shared by ``lrface-prepare`` and the embedding API so both crop faces the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np

from lrface.face.align import SizeLike, align
from lrface.face.detect import Face, MTCNN, get_detector, select_face

#: Policies for photos with several faces (see :func:`lrface.face.detect.select_face`).
POLICIES = ("largest", "central", "best")
#: Borders tried in turn when a photo shows no face at first (see ``pad_retry``).
DEFAULT_PAD_RETRY = (0.1, 0.3)


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
    pad_retry: Union[float, Sequence[float]] = 0.0,
) -> Optional[AlignedFace]:
    """Detect faces in ``image``, choose one by ``policy`` and align it.

    Args:
        image: HxWx3 uint8 RGB.
        detector: a ready :class:`MTCNN`; by default a cached one for ``min_face_size``.
        policy: ``"largest"``, ``"central"`` or ``"best"`` when several faces are found.
        size: output crop size (112 or (112, 96)).
        min_face_size: smallest face (px) searched for when no detector is given.
        pad_retry: if no face is found, add a black border of this fraction of the longer
            side and try again; a sequence tries each border in turn until a face is found.
            Faces that fill the whole frame (tight crops such as ORL or Pins) lack the context
            MTCNN's P-Net was trained with; a border restores it, but which border works best
            varies per image (ORL s2/6.pgm is found at 0.1 and lost at 0.3), hence a ladder.
            0 or an empty sequence disables the retry.

    Returns:
        An :class:`AlignedFace`, or ``None`` when no face is found.
    """
    return detect_and_align_batch([image], detector=detector, policy=policy, size=size,
                                  min_face_size=min_face_size, pad_retry=pad_retry)[0]


def detect_and_align_batch(
    images: Sequence[np.ndarray],
    *,
    detector: Optional[MTCNN] = None,
    policy: str = "largest",
    size: SizeLike = 112,
    min_face_size: int = 20,
    pad_retry: Union[float, Sequence[float]] = 0.0,
) -> List[Optional[AlignedFace]]:
    """:func:`detect_and_align` for many images at once (one batched detector pass)."""
    if policy not in POLICIES:
        raise ValueError(f"unknown face policy {policy!r}; choose one of {', '.join(POLICIES)}")
    det = detector or get_detector(min_face_size=min_face_size)
    found = det.detect(list(images)) if len(images) else []
    pads = [float(pad_retry)] if isinstance(pad_retry, (int, float)) else [float(p) for p in pad_retry]
    for pad in (p for p in pads if p > 0):
        missed = [i for i, f in enumerate(found) if not f]
        if not missed:
            break
        for i, faces in zip(missed, det.detect([images[i] for i in missed], pad=pad)):
            found[i] = faces
    out: List[Optional[AlignedFace]] = []
    for img, faces in zip(images, found):
        chosen = select_face(faces, img.shape, policy=policy)
        out.append(None if chosen is None else AlignedFace(align(img, chosen.landmarks, size), chosen, len(faces)))
    return out


def align_known(image: np.ndarray, landmarks: Sequence[Sequence[float]], size: SizeLike = 112) -> np.ndarray:
    """Align with landmarks supplied by the caller (datasets that ship them); no detection runs."""
    return align(image, np.asarray(landmarks, dtype=np.float64).reshape(5, 2), size)
