"""Which shipped model embeds a face: chosen by the face's real size in pixels.

lrface ships, in one 128-D embedding space (that of dlib's public-domain face ResNet):

* ``lrface-hr``, dlib's face ResNet itself, for faces of :data:`HR_MIN_FACE` px and more
  (ID photos, galleries);
* ``lrface-lr``, the same network adapted to faces of 8 to 32 px (``lrface-train adapt``):
  the accurate model for every low resolution, given each face at its own size;
* compact students ``lrface-s8`` .. ``lrface-s32``, distilled from ``lrface-lr``, one per
  size, many times faster: chosen with ``prefer="speed"``.

Embeddings of faces of different sizes compare directly: a 16 px camera crop against an ID
photo is a dot product.

With ``prefer="speed"`` a face goes to the student whose resolution is the largest one **not
above** the face's size (a 19 px face goes to the 16 px student and is area-shrunk to 16 px:
a student never gets a face sharper than the ones it was trained on), and faces below the
smallest student's size go to that student. A model trained on a range of sizes (its manifest
lists ``degradation.sizes``) sees each face at its own size within that range
(:func:`lr_size`).

The size of a detected face is measured from its five landmarks: the root-mean-square
distance of the landmarks from their centroid, relative to the same spread on the ArcFace
112x112 template, times 112 (:func:`face_size`). That is the side of the aligned 112 crop in
source pixels, i.e. the number of pixels that actually carried the face. For crops given
with ``align=False`` the size is the crop's shorter side.

The manifest says what each model covers: ``kind: hr | lr``, ``default_for_res`` (the sizes
it is the default for; ``[112]`` for the HR model) and, for students, ``fast_for_res``.

Example:
    >>> choose_res(19.0, [8, 12, 16, 20, 24, 32])
    16
    >>> choose_res(64.0, [8, 12, 16, 20, 24, 32])
    112
    >>> choose_res(5.0, [8, 16])
    8
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from lrface.face.align import ARCFACE_TEMPLATE_112
from lrface.models.weights import WeightsEntry, available_weights

__all__ = ["HR_RES", "HR_MIN_FACE", "PREFERENCES", "Choice", "face_size", "choose_res", "shipped_by_res", "is_hr",
           "lr_size", "size_range", "pick"]

#: The "resolution" of the HR model in the manifest's ``default_for_res``.
HR_RES = 112
#: Faces at least this many pixels across go to the HR model. Chosen on LFW View 1
#: (``benchmarks/zoo_choice.py``, table in docs/results.md): the LR model wins at 24 px, the two
#: tie at 32 px, and from 40 px on the HR model wins clearly; the LR model sees at most 32 px of
#: a face, so every face of 32 px and more goes to the HR model.
HR_MIN_FACE = 32.0

_T = np.asarray(ARCFACE_TEMPLATE_112, np.float64)
_T_SPREAD = float(np.sqrt(((_T - _T.mean(0)) ** 2).sum(1).mean()))


@dataclass(frozen=True)
class Choice:
    """The model picked for one face: its name, its resolution and the measured face size."""

    model: str
    res: int  # the model's resolution (112 for the HR model)
    face_px: float  # measured face size in source pixels (NaN when unknown)


def face_size(landmarks: Sequence[Sequence[float]]) -> float:
    """The face's size in source pixels from its five landmarks (side of the 112 frame).

    Example:
        >>> round(face_size(ARCFACE_TEMPLATE_112 / 7), 3)
        16.0
    """
    p = np.asarray(landmarks, np.float64).reshape(5, 2)
    spread = float(np.sqrt(((p - p.mean(0)) ** 2).sum(1).mean()))
    return 112.0 * spread / _T_SPREAD


def choose_res(face_px: float, student_res: Sequence[int], hr_min: float = HR_MIN_FACE,
               have_hr: bool = True) -> int:
    """The resolution to use for a face of ``face_px`` pixels (``HR_RES`` for the HR model)."""
    ladder = sorted(int(r) for r in student_res)
    if have_hr and (face_px >= hr_min or not ladder):
        return HR_RES
    if not ladder:
        raise ValueError("no student resolutions to choose from")
    # a 2% tolerance: a 15.8 px measurement of a 16 px crop (landmark noise) still gets the 16 px model
    below = [r for r in ladder if r <= face_px * 1.02]
    return below[-1] if below else ladder[0]


def is_hr(entry: WeightsEntry) -> bool:
    """Is this model for full-resolution faces? The manifest says so with ``kind: hr``;
    entries written before ``kind`` existed are HR when they declare ``default_for_res: [112]``."""
    kind = entry.meta.get("kind")
    if kind is not None:
        return kind == "hr"
    return HR_RES in [int(r) for r in entry.meta.get("default_for_res") or []]


#: What :func:`shipped_by_res` favours: the most accurate model per size (default), or the
#: compact students (``fast_for_res`` in their manifest entries) where one exists.
PREFERENCES = ("accuracy", "speed")


def shipped_by_res(prefer: str = "accuracy") -> Dict[int, WeightsEntry]:
    """``{res: entry}`` of the models that declare ``default_for_res`` (the accurate LR model,
    the HR model); with ``prefer="speed"`` the students that declare ``fast_for_res`` replace
    them at their sizes.

    Later manifests (``$LRFACE_WEIGHTS``) win over the package's, so a user can replace one size.
    """
    if prefer not in PREFERENCES:
        raise ValueError(f"prefer must be one of {', '.join(PREFERENCES)}, got {prefer!r}")
    out: Dict[int, WeightsEntry] = {}
    entries = available_weights().values()
    for entry in entries:
        for r in entry.meta.get("default_for_res") or []:
            out[int(r)] = entry
    if prefer == "speed":
        for entry in entries:
            for r in entry.meta.get("fast_for_res") or []:
                out[int(r)] = entry
    return out


def size_range(entry: WeightsEntry) -> Optional[Tuple[int, int]]:
    """``(smallest, largest)`` LR face size a model was trained on at any size in between
    (``degradation.sizes`` in its manifest, as ``lrface-train adapt`` writes), else ``None``
    (a model for one size)."""
    sizes = (entry.meta.get("degradation") or {}).get("sizes")
    return (int(min(sizes)), int(max(sizes))) if sizes else None


def lr_size(entry: WeightsEntry, face_px: float, ladder_res: int) -> int:
    """The size a face of ``face_px`` pixels is given to an LR model at: a model trained on a
    range of sizes sees the face at its own size (within that range); a one-size student at
    its resolution ``ladder_res``."""
    rng = size_range(entry)
    if rng is None or not np.isfinite(face_px):
        return int(ladder_res)
    return int(min(max(round(face_px), rng[0]), rng[1]))


def pick(face_px: float, table: Optional[Dict[int, WeightsEntry]] = None) -> Choice:
    """The :class:`Choice` for a face of ``face_px`` pixels among the shipped models."""
    table = shipped_by_res() if table is None else table
    if not table:
        from lrface.errors import WeightsError

        raise WeightsError("no shipped models declare default_for_res; pass model= (a name or a .pt path)")
    students: List[int] = [r for r in table if r != HR_RES]
    r = choose_res(face_px if np.isfinite(face_px) else HR_RES, students, have_hr=HR_RES in table)
    return Choice(table[r].name, r, float(face_px))
