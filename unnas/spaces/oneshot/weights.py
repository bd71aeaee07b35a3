"""What one forward pass weighs a cell's edges by: the op weights of an alpha matrix and, with edge normalisation,
one factor per edge.

A search strategy decides the op weights (:meth:`~unnas.spaces.oneshot.Supernet.set_op_weights`); the supernet hands
each cell one :class:`CellWeights` per pass, and every cell computes an edge's output with
:meth:`CellWeights.edge_output`. A strategy that needs a new per-edge quantity adds it here and to
:class:`~unnas.spaces.oneshot.MixedOp`, not to the spaces' cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import torch
from torch import nn


@dataclass(frozen=True, eq=False)
class OpWeights:
    """The op weights of one alpha matrix for one forward pass.

    ``weights`` is a tensor ``[edges, ops]``. ``active``, when given, names per edge the only op whose weight is
    not a hard zero (a hard sample): a mixed op then runs that op alone and adds the other ops' weights as
    scalars, which leaves the value unchanged (they are exactly 0) and gives each of them the gradient
    ``sum(dL/d out)``, as GDAS's official code does. ``runs``, when given, says per edge which ops run (a
    tuple of booleans per edge); the others must have weight exactly 0 and are left out of the sum entirely
    (no term, no gradient to their parameters), as a pruned op is.
    """

    weights: Any
    active: Optional[Tuple[int, ...]] = None
    runs: Optional[Tuple[Tuple[bool, ...], ...]] = None


def unpack_op_weights(weights) -> Tuple[Any, Optional[Tuple[int, ...]], Optional[Tuple[Tuple[bool, ...], ...]]]:
    """``(weights, active, runs)`` of an :class:`OpWeights` or a plain weight tensor."""
    if isinstance(weights, OpWeights):
        return weights.weights, weights.active, weights.runs
    return weights, None, None


def node_softmax(betas: torch.Tensor, in_degrees: Sequence[int]) -> torch.Tensor:
    """``softmax`` over each node's consecutive run of *in_degrees* entries of *betas* ``[edges]`` (PC-DARTS's edge
    normalisation)."""
    return torch.cat([nn.functional.softmax(b, dim=-1) for b in betas.split(list(in_degrees))])


@dataclass(frozen=True, eq=False)
class CellWeights:
    """Everything a cell's edges are weighted by in one forward pass: the op weights of its alpha matrix (a tensor
    ``[edges, ops]`` or an :class:`OpWeights`) and, with edge normalisation, one factor per edge multiplying the
    edge's mixed-op output (PC-DARTS's normalised betas; ``None`` without)."""

    ops: Any
    edges: Optional[torch.Tensor] = None

    @classmethod
    def of(cls, weights, edge_weights: Optional[torch.Tensor] = None) -> "CellWeights":
        """*weights* itself when it already is a :class:`CellWeights` (then *edge_weights* must be ``None``), else
        the cell weights of op weights *weights* and *edge_weights*."""
        if isinstance(weights, CellWeights):
            if edge_weights is not None:
                raise ValueError("edge weights given twice: inside the CellWeights and beside it")
            return weights
        return cls(weights, edge_weights)

    def edge_output(self, op: nn.Module, x: torch.Tensor, e: int) -> torch.Tensor:
        """Edge *e*'s output: its mixed op *op* on *x* with the edge's op weights, times its edge weight when there
        are edge weights."""
        weights, active, runs = unpack_op_weights(self.ops)
        out = op(x, weights[e], None if active is None else active[e], None if runs is None else runs[e])
        return out if self.edges is None else self.edges[e] * out


__all__ = ["OpWeights", "CellWeights", "unpack_op_weights", "node_softmax"]
