"""Exceptions raised by lrface.

Every error a user can provoke with bad input derives from :class:`LrfaceError`, so a
caller can catch one type; each also derives from the closest built-in (``ValueError``,
``FileNotFoundError``) so generic handlers keep working.
"""
from __future__ import annotations


class LrfaceError(Exception):
    """Base class of all lrface errors caused by input or environment."""


class ImageReadError(LrfaceError, ValueError):
    """An image could not be read: missing, empty, truncated, not an image, or absurd size."""


class NoFaceError(LrfaceError, ValueError):
    """No face was found where one was required."""


class DatasetLayoutError(LrfaceError, FileNotFoundError):
    """A dataset folder does not have the layout a loader expects."""


class WeightsError(LrfaceError, RuntimeError):
    """Weight files are missing, unverified or incompatible."""
