"""Evaluation protocols: which faces are compared, at which resolution, scored how.

Every protocol is a small class registered in :data:`PROTOCOLS`; its constructor stores
settings (no I/O), ``check()`` validates the dataset layout (raising
:class:`lrface.errors.DatasetLayoutError` that names the expected path), and
``evaluate(embed_fn, res=..., mode=...)`` returns a flat dict of settings and metrics. The
embedding function is supplied by the caller (see :mod:`lrface.eval.protocols.base` for its
contract), so nothing here imports a model.

=====================  ===========================================================
name                   protocol
=====================  ===========================================================
``lfw``                LFW 10-fold verification, lr-lr / hr-lr / hr-hr
``lfw-surveillance``   simulated surveillance identification on LFW (rank-1 per px)
``scface``             SCface mugshot gallery vs cameras, rank-1 per distance
``uccs-watchlist``     UCCS open-set watchlist: rank-1 and DIR at FPIR
``uccs-closed``        UCCS closed-set identification: top-1 / top-5
=====================  ===========================================================

Example:
    >>> from lrface.eval.protocols import PROTOCOLS, get_protocol
    >>> PROTOCOLS.names()
    ['lfw', 'lfw-surveillance', 'scface', 'uccs-closed', 'uccs-watchlist']
    >>> get_protocol("lfw", root="/data/lfw").name
    'lfw'
"""
from __future__ import annotations

from typing import Any, List

from lrface.eval.protocols.base import MODES, PROTOCOLS, EmbedFn, Protocol, embed_faces
from lrface.eval.protocols.lfw import LFWPairs, LFWVerification, parse_pairs
from lrface.eval.protocols.lfw_download import DownloadError, download_lfw
from lrface.eval.protocols.lfw_surveillance import LFWSurveillance
from lrface.eval.protocols.scface import SCface
from lrface.eval.protocols.uccs import UCCSClosedSet, UCCSWatchlist

__all__ = [
    "PROTOCOLS", "MODES", "EmbedFn", "Protocol", "embed_faces", "get_protocol", "list_protocols",
    "LFWVerification", "LFWPairs", "parse_pairs", "download_lfw", "DownloadError",
    "LFWSurveillance", "SCface", "UCCSWatchlist", "UCCSClosedSet",
]


def get_protocol(name: str, **kwargs: Any) -> Protocol:
    """Construct the protocol registered as ``name`` (no I/O happens until ``evaluate``).

    Raises:
        KeyError: unknown name; the message lists close matches.
    """
    return PROTOCOLS.get(name)(**kwargs)


def list_protocols(pattern: str = "*") -> List[str]:
    """Sorted registered protocol names matching a shell-style ``pattern``."""
    return PROTOCOLS.names(pattern)
