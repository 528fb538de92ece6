"""Relational structures of a batch of embeddings, shared by RKD, SP and HORKD.

All functions take ``(N, D)`` tensors and return structures whose size depends only on N, so
student and teacher may have different D.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def off_diagonal(m: Tensor) -> Tensor:
    """The ``N*(N-1)`` off-diagonal entries of an ``(N, N)`` matrix, flattened."""
    n = m.shape[0]
    return m.flatten()[1:].view(n - 1, n + 1)[:, :-1].flatten()


def normalized_distances(x: Tensor, eps: float = 1e-12) -> Tensor:
    """RKD distance potential (Park et al. 2019, Eq. 3-4): ``||x_i - x_j|| / mu``, with ``mu``
    the mean distance over pairs ``i != j``. Returns the ``N*(N-1)`` off-diagonal values."""
    d = off_diagonal(torch.cdist(x, x))
    return d / d.mean().clamp_min(eps)


def triplet_angles(x: Tensor) -> Tensor:
    """RKD angle potential (Park et al. 2019, Eq. 6): ``cos(angle x_i x_j x_k) = <e_ij, e_kj>``
    with ``e_ij = (x_i - x_j) / ||x_i - x_j||``, for all triplets. Returns ``(N, N, N)`` flattened."""
    e = F.normalize(x[:, None, :] - x[None, :, :], dim=2)  # e[j, i] = unit(x_j - x_i)
    return torch.bmm(e, e.transpose(1, 2)).flatten()  # [j, i, k] = <e_ji, e_jk>: angle at x_j


def cosine_matrix(x: Tensor) -> Tensor:
    """``(N, N)`` cosine similarities of the rows of ``x``."""
    x = F.normalize(x, dim=1)
    return x @ x.t()
