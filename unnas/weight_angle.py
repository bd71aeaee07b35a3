"""The angle between two weight vectors (RLNAS: Zhang et al., *Neural Architecture Search with Random Labels*, CVPR
2021): ``θ = arccos(<W0, Wt> / (|W0| |Wt|))``, with ``W`` the concatenation of a network's flattened weight
tensors. RLNAS ranks architectures by the angle between their initial and trained weights (larger: predicted
better). Pure math on lists of tensors; which tensors enter is the caller's choice
(:func:`unnas.modules.train_callbacks.angle_parameters`).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor


def flatten(tensors: Sequence[Tensor]) -> Tensor:
    """The tensors flattened and concatenated, in float64 on the CPU."""
    if len(tensors) == 0:
        return torch.zeros(0, dtype=torch.float64)
    return torch.cat([t.detach().to(device="cpu", dtype=torch.float64).reshape(-1) for t in tensors])


def weight_angle(initial: Sequence[Tensor], final: Sequence[Tensor]) -> float:
    """The angle in radians, in [0, π], between the concatenations of *initial* and *final* (two lists of tensors
    of the same shapes, in the same order).

    Computed as ``2 atan2(|u - v|, |u + v|)`` with u, v the unit vectors, which equals ``arccos(u·v)`` but stays
    exact near 0 and π (arccos of a rounded cosine does not). ValueError when the lists do not match or a vector
    is zero or not finite (no direction, no angle)."""
    if len(initial) != len(final):
        raise ValueError(f"the weight lists differ in length: {len(initial)} initial tensors, {len(final)} final ones")
    for i, (a, b) in enumerate(zip(initial, final)):
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(f"tensor {i} has shape {tuple(a.shape)} initially but {tuple(b.shape)} finally")
    u, v = flatten(initial), flatten(final)
    if u.numel() == 0:
        raise ValueError("no weights: the angle of an empty vector is undefined")
    nu, nv = torch.linalg.vector_norm(u), torch.linalg.vector_norm(v)
    if not (math.isfinite(float(nu)) and math.isfinite(float(nv))):
        raise ValueError("the weights are not finite")
    if float(nu) == 0.0 or float(nv) == 0.0:
        raise ValueError("a weight vector is zero: it has no direction, so no angle")
    u, v = u / nu, v / nv
    return float(2.0 * torch.atan2(torch.linalg.vector_norm(u - v), torch.linalg.vector_norm(u + v)))
