"""Momentum memory bank keyed by dataset sample index (docs/design.md, convention 14).

As in the memory of Wu et al. (CVPR 2018) and CRD (Tian et al., ICLR 2020): slot ``i`` holds a
running, L2-normalised average of the vectors seen for sample ``i``:
``m_i <- normalize(momentum * m_i + (1 - momentum) * v)``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MomentumBank(nn.Module):
    """A ``(size, dim)`` buffer of unit vectors (moves with ``.to()``, saved in ``state_dict``).

    Args:
        size: number of slots (dataset size).
        dim: vector size.
        momentum: weight of the old slot content in an update (CRD: 0.5).
    """

    def __init__(self, size: int, dim: int, momentum: float = 0.5) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"memory bank needs size >= 1 and dim >= 1, got {size}, {dim}")
        self.momentum = float(momentum)
        stdv = 1.0 / math.sqrt(dim / 3.0)  # random start, as RepDistiller's CRD memory
        self.register_buffer("memory", F.normalize(torch.rand(size, dim).mul_(2 * stdv).add_(-stdv), dim=1))

    def __len__(self) -> int:
        return self.memory.shape[0]

    @torch.no_grad()
    def update(self, index: Tensor, values: Tensor) -> None:
        """Momentum-update slots ``index`` ``(N,)`` with ``values`` ``(N, dim)`` (detached)."""
        index = index.to(self.memory.device).long()
        new = self.momentum * self.memory[index] + (1 - self.momentum) * values.detach().to(self.memory)
        self.memory.index_copy_(0, index, F.normalize(new, dim=1))

    def sample(self, n: int, k: int, exclude: Tensor) -> Tensor:
        """``(n, k, dim)`` random slots and a ``(n, k)`` mask that is True where a slot equals
        ``exclude[row]`` (a row's own sample, which is not a negative)."""
        idx = torch.randint(len(self), (n, k), device=self.memory.device)
        return self.memory[idx], idx == exclude.to(idx.device).long()[:, None]
