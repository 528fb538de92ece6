"""Parameter, MAC and FLOP counts of a model, with forward hooks (no extra dependency).

Counting rules (per image, batch 1, eval mode):

* ``Conv2d``: ``out_elements * (in_channels / groups) * kh * kw`` multiply-accumulates (MACs),
  plus ``out_elements`` additions for a bias (counted as FLOPs only).
* ``Linear``: ``out_elements * in_features`` MACs (+ bias additions as FLOPs).
* ``BatchNorm``: in eval mode a per-element affine map, ``numel`` MACs (zero after
  :func:`lrface.models.export.fold_bn`).
* ``flops = 2 * macs + bias additions``. Activations, pooling and residual adds are ignored:
  they are memory bound rather than arithmetic bound. Note that many papers (MobileFaceNet's
  "0.44G FLOPs", for instance) report MACs under the name FLOPs; compare ``macs`` with those.

Example:
    >>> from torch import nn
    >>> conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    >>> profile(conv, (4, 4))["macs"]  # 4*4*8 outputs x 3*3*3 inputs
    3456
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple

import torch
from torch import nn

__all__ = ["profile", "profile_table"]


def _conv_count(m: nn.Conv2d, out: torch.Tensor) -> Tuple[int, int]:
    kh, kw = m.kernel_size
    macs = out.numel() * (m.in_channels // m.groups) * kh * kw
    return macs, (out.numel() if m.bias is not None else 0)


def _linear_count(m: nn.Linear, out: torch.Tensor) -> Tuple[int, int]:
    return out.numel() * m.in_features, (out.numel() if m.bias is not None else 0)


def _bn_count(m: nn.Module, out: torch.Tensor) -> Tuple[int, int]:
    return out.numel(), 0


_RULES = (
    (nn.Conv2d, _conv_count),
    (nn.Linear, _linear_count),
    (nn.modules.batchnorm._BatchNorm, _bn_count),
)


def profile(model: nn.Module, input_size: Optional[Tuple[int, int]] = None) -> Dict[str, int]:
    """Count parameters, MACs and FLOPs of one forward pass at batch 1.

    Args:
        model: any module taking ``(1, 3, H, W)``; ``FaceModel`` s carry their input size.
        input_size: ``(H, W)``; defaults to ``model.input_size``.

    Returns:
        ``dict(params=..., macs=..., flops=...)`` (ints; ``params`` counts all parameters,
        trainable or not).

    Example:
        >>> from lrface.models import create_model
        >>> p = profile(create_model("lrstudent16"))
        >>> p["params"] < 1_050_000 and p["flops"] > 0
        True
    """
    if input_size is None:
        input_size = getattr(model, "input_size", None)
        if input_size is None:
            raise ValueError("input_size is required for a model without .input_size")
    total = {"macs": 0, "bias": 0}

    def hook(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
        for cls, rule in _RULES:
            if isinstance(mod, cls) and isinstance(out, torch.Tensor):
                macs, bias = rule(mod, out)
                total["macs"] += macs
                total["bias"] += bias
                return

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, tuple(c for c, _ in _RULES))]
    was_training = model.training
    try:
        model.eval()  # BN needs running stats at batch 1; counts do not depend on the mode
        p = next(iter(model.parameters()), None)
        x = torch.zeros(1, 3, *input_size, dtype=p.dtype if p is not None else torch.float32,
                        device=p.device if p is not None else "cpu")
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "macs": total["macs"], "flops": 2 * total["macs"] + total["bias"]}


def profile_table(names: Optional[Iterable[str]] = None, **create_kwargs: object):
    """Profile registered models; a ``pandas.DataFrame`` with one row per model.

    Args:
        names: registered model names; default: all of ``lrface.models.list_models()``.
        **create_kwargs: passed to every ``create_model`` call (e.g. ``embedding_size=128``).

    Returns:
        DataFrame with columns ``model, role, input, embedding, params, params_M, macs_M,
        flops_M``.

    Example:
        >>> print(profile_table(["lrstudent8", "lrstudent16"]).to_string(index=False))  # doctest: +SKIP
    """
    import pandas as pd

    from lrface.models.base import create_model, list_models

    rows = []
    for name in list(names) if names is not None else list_models():
        model = create_model(name, **create_kwargs)
        p = profile(model)
        h, w = model.input_size
        rows.append({
            "model": name,
            "role": model.cfg.role,
            "input": f"{h}x{w}",
            "embedding": model.embedding_size,
            "params": p["params"],
            "params_M": round(p["params"] / 1e6, 3),
            "macs_M": round(p["macs"] / 1e6, 2),
            "flops_M": round(p["flops"] / 1e6, 2),
        })
    return pd.DataFrame(rows)
