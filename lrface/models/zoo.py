"""Which shipped model embeds a face: chosen by the face's real size in pixels.

lrface ships one student per low resolution (8, 12, 16, 20, 24 and 32 px) and one compact HR
model for 112 px faces, all distilled into the same 128-D embedding space (the y1 teacher's),
so embeddings of faces of different sizes compare directly: a 16 px camera crop against a
112 px ID photo is just a dot product.

A face is given to the student whose resolution is the largest one **not above** the face's
size (a 19 px face goes to the 16 px student and is area-shrunk to 16 px: a model never gets
a face sharper than the ones it was trained on, and never has to invent detail that is not
there), and to the HR model once the face is at least :data:`HR_MIN_FACE` px across. Faces
below the smallest student's size go to that student (upsampled detail would be made up).

The size of a detected face is measured from its five landmarks: the root-mean-square
distance of the landmarks from their centroid, relative to the same spread on the ArcFace
112x112 template, times 112 (:func:`face_size`). That is the side of the aligned 112 crop in
source pixels, i.e. the number of pixels that actually carried the face. For crops given
with ``align=False`` the size is the crop's shorter side.

The shipped models declare what they cover in the manifest: ``default_for_res: [16]``
(students), ``default_for_res: [112]`` (the HR model).

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
from typing import Dict, List, Optional, Sequence

import numpy as np

from lrface.face.align import ARCFACE_TEMPLATE_112
from lrface.models.weights import WeightsEntry, available_weights

__all__ = ["HR_RES", "HR_MIN_FACE", "Choice", "face_size", "choose_res", "shipped_by_res"]

#: The "resolution" of the HR model in the manifest's ``default_for_res``.
HR_RES = 112
#: Faces at least this many pixels across go to the HR model. Chosen on LFW View 1
#: (``benchmarks/zoo_choice.py``, table in docs/results.md): up to 32 px the student the
#: ladder picks has the higher AUC; from 40 px on, the HR model on the upsampled face does.
HR_MIN_FACE = 40.0

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


def shipped_by_res() -> Dict[int, WeightsEntry]:
    """``{res: entry}`` of the models that declare ``default_for_res`` (students and HR model).

    Later manifests (``$LRFACE_WEIGHTS``) win over the package's, so a user can replace one size.
    """
    out: Dict[int, WeightsEntry] = {}
    for entry in available_weights().values():
        for r in entry.meta.get("default_for_res") or []:
            out[int(r)] = entry
    return out


def pick(face_px: float, table: Optional[Dict[int, WeightsEntry]] = None) -> Choice:
    """The :class:`Choice` for a face of ``face_px`` pixels among the shipped models."""
    table = shipped_by_res() if table is None else table
    if not table:
        from lrface.errors import WeightsError

        raise WeightsError("no shipped models declare default_for_res; pass model= (a name or a .pt path)")
    students: List[int] = [r for r in table if r != HR_RES]
    r = choose_res(face_px if np.isfinite(face_px) else HR_RES, students, have_hr=HR_RES in table)
    return Choice(table[r].name, r, float(face_px))
