"""Jitter of HR training faces: per-epoch augmentation and the teacher's extra views.

Two uses share one warp (:func:`jitter`):

- ``augment:`` (per epoch, student input only): the teacher's target stays the cached
  embedding of the un-jittered face, so the jitter must stay small (strong jitter makes the
  target wrong for what the student sees and lowers validation AUC, docs/results.md).
- ``views:`` (consistent): ``count`` jittered copies of every training face, each fixed per
  face and view, seen by the teacher once (cached) and, degraded, by the student, so the
  student's target is the teacher's embedding of the very face it sees: the "consistent
  teaching" of function-matching distillation (Beyer et al., "Knowledge distillation: A good
  teacher is patient and consistent", CVPR 2022). The draws are keyed by the face's content
  digest, not its position, so the cached views survive a change of the pack (roots added).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

MIRROR, FIRST_JITTERED = 1, 2  # view 0: the face as stored; 1: mirrored; 2..: jittered views


def jitter(img: np.ndarray, knobs: Any, u: np.ndarray) -> np.ndarray:
    """One face ``(H, W, 3) uint8`` warped and recoloured by ``knobs`` (an object with
    ``shift, scale, rotate, contrast, gray``) and 6 uniform draws ``u`` in [-1, 1]."""
    import cv2  # imported here: the rest of the trainer does not need OpenCV

    h, w = img.shape[:2]
    if knobs.shift or knobs.scale or knobs.rotate:
        m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), knobs.rotate * u[0], 1.0 + knobs.scale * u[1])
        m[0, 2] += knobs.shift * w * u[2]
        m[1, 2] += knobs.shift * h * u[3]
        img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if knobs.contrast:
        c = 1.0 + knobs.contrast * u[4]
        b = 127.5 * knobs.contrast * u[5]
        img = np.clip((img.astype(np.float32) - 127.5) * c + 127.5 + b, 0, 255).astype(np.uint8)
    if knobs.gray and (u[5] + 1) / 2 < knobs.gray:
        g = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        img = np.repeat(np.clip(g + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return img


def view_draws(seed: int, digest: np.ndarray, view: int) -> np.ndarray:
    """The 7 uniform draws in [-1, 1] of jittered view ``view`` (0-based) of the face whose
    sha1 is ``digest`` (20 uint8): 6 for :func:`jitter`, the 7th for the mirror."""
    d = np.asarray(digest, np.uint8)
    key = [int(seed) & 0xFFFFFFFF, int.from_bytes(d[:4].tobytes(), "little"),
           int.from_bytes(d[4:8].tobytes(), "little"), int(view)]
    return np.random.default_rng(key).random(7) * 2 - 1


def render_views(spec: Any, faces: np.ndarray, digests: Optional[np.ndarray], views: Any) -> np.ndarray:
    """Faces ``(N, H, W, 3)`` in their cached views: ``views[k]`` 0 keeps face k, 1 mirrors it,
    ``v >= 2`` gives jittered view ``v - 2`` of ``spec`` (a :class:`~lrface.distill.config.ViewsCfg`).
    ``digests`` ``(N, 20)``, the faces' sha1 (:func:`lrface.distill.cache.face_digests`), are
    needed only for jittered views."""
    views = np.broadcast_to(np.asarray(views, np.int64), (len(faces),))
    out = np.array(faces, copy=True)
    mirror = views == MIRROR
    if mirror.any():  # vectorised: the common case (no jittered views) stays cheap
        out[mirror] = faces[mirror][:, :, ::-1]
    jittered = np.flatnonzero(views >= FIRST_JITTERED)
    if len(jittered) and digests is None:
        raise ValueError("jittered views (views.count > 0) need the faces' digests (the teacher cache's)")
    for k in jittered:
        u = view_draws(spec.seed, digests[k], int(views[k]) - FIRST_JITTERED)
        img = faces[k][:, ::-1] if (u[6] + 1) / 2 < spec.mirror else faces[k]
        out[k] = jitter(np.ascontiguousarray(img), spec, u[:6])
    return out
