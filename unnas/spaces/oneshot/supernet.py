"""The weight-sharing supernet interface: what a search strategy and the search module need from a space's supernet,
and the one-shot machinery every supernet shares (op weights, PC-DARTS's partial channels and edge betas)."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, Iterator, List, Mapping, Optional, Union

import numpy as np
import torch
from torch import nn

from unnas.errors import ConfigError
from unnas.spaces.oneshot.weights import CellWeights, OpWeights, node_softmax

#: ``rule(alpha, key)``: the op weights of alpha matrix *key* for one forward pass
OpWeightsRule = Callable[[Any, str], Union[torch.Tensor, OpWeights]]


class Supernet(nn.Module):
    """What a search strategy and :class:`~unnas.modules.WeightSharingSearch` need from a space's supernet.

    ``forward(x)`` returns the objective head's logits. For every alpha matrix it asks :meth:`cell_weights` for the
    weights of that pass and hands them to the cells, which compute each edge with
    :meth:`~unnas.spaces.oneshot.CellWeights.edge_output` of a :class:`~unnas.spaces.oneshot.MixedOp`. The op
    weights are ``softmax(alpha, -1)`` (DARTS) unless a search strategy installed its own rule with
    :meth:`set_op_weights`. The rule is looked up on every forward and reads the alpha tensor it is handed, so
    ``torch.func.functional_call`` with substituted alphas keeps working.

    A space's supernet provides :meth:`arch_parameters`, :meth:`arch_weights`, :meth:`edge_labels`,
    :meth:`genotype` (its derivation rule) and, for partial channels and edge normalisation, :meth:`mixed_ops`,
    :meth:`node_in_degrees` and :attr:`beta_names`.
    """

    OpWeights = OpWeights

    primitives: tuple
    _op_weights_rule: Optional[OpWeightsRule] = None

    # ------------------------------------------------------------------ op weights
    def set_op_weights(self, rule: Optional[OpWeightsRule]) -> None:
        """Install ``rule(alpha, key)`` (returning a tensor of op weights or an :class:`OpWeights`); ``None``
        restores the softmax."""
        self._op_weights_rule = rule

    def op_weights(self, alpha, key: str) -> OpWeights:
        """The op weights of alpha matrix *key* (``"normal"``, ``"reduce"``, ``"cell"``) for this forward pass."""
        rule = self._op_weights_rule
        out = nn.functional.softmax(alpha, dim=-1) if rule is None else rule(alpha, key)
        return out if isinstance(out, OpWeights) else OpWeights(out)

    def cell_weights(self, alpha, key: str) -> CellWeights:
        """Everything the cells of alpha matrix *key* are weighted by in this forward pass: :meth:`op_weights`
        and :meth:`edge_weights`."""
        return CellWeights(self.op_weights(alpha, key), self.edge_weights(key))

    def arch_parameters(self) -> List[nn.Parameter]:  # pragma: no cover - interface
        """The architecture parameters: the alpha matrices, then the edge betas when edge normalisation is on."""
        raise NotImplementedError

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return (p for p in self.parameters() if id(p) not in arch)

    # ------------------------------------------------------------------ PC-DARTS: partial channels, edge betas
    #: alpha key -> name of its edge-normalisation parameter (one beta per edge, created by
    #: :meth:`set_edge_normalization`); empty for a supernet without edge normalisation
    beta_names: ClassVar[Mapping[str, str]] = {}

    def mixed_ops(self) -> List[nn.Module]:
        """Every mixed op (edge) of the cells; each has ``check_partial_channels(k)`` and ``set_partial_channels(k)``."""
        return []

    def node_in_degrees(self) -> List[int]:
        """Edges entering each intermediate node, in alpha-row order (the rows of a node are consecutive)."""
        return []

    def set_partial_channels(self, k: int) -> None:
        """Run every mixed op on ``1/k`` of its input channels (PC-DARTS; ``k = 1``: all of them). The ops are
        rebuilt with fresh weights when *k* changes, so call this before training. One-line
        :class:`~unnas.errors.ConfigError` (and nothing changed) when an edge's channels are not divisible by *k*."""
        ops = self.mixed_ops()
        if not ops and k != 1:
            raise ConfigError(f"{type(self).__name__} has no mixed ops to run on partial channels; use k=1")
        for op in ops:
            op.check_partial_channels(k)
        for op in ops:
            op.set_partial_channels(k)

    def set_edge_normalization(self, enabled: bool) -> None:
        """Add (or, with ``enabled=False``, remove) one beta per edge for every alpha matrix: each edge's output is
        multiplied by the softmax of the betas of the edges entering its node (PC-DARTS). New betas are
        ``1e-3 * randn`` like the alphas; betas already there are kept."""
        if enabled and not self.beta_names:
            raise ConfigError(f"{type(self).__name__} has no edge normalisation; set edge_normalization: false")
        ref = next(iter(self.parameters()))
        for name in self.beta_names.values():
            present = name in self._parameters
            if enabled and not present:
                betas = 1e-3 * torch.randn(sum(self.node_in_degrees()), dtype=ref.dtype, device=ref.device)
                self.register_parameter(name, nn.Parameter(betas))
            elif not enabled and present:
                delattr(self, name)

    def beta_parameters(self) -> List[nn.Parameter]:
        """The edge-normalisation parameters, in :attr:`beta_names` order (empty when it is off)."""
        return [getattr(self, n) for n in self.beta_names.values() if n in self._parameters]

    node_softmax = staticmethod(node_softmax)

    def edge_weights(self, key: str):
        """The normalised betas ``[edges]`` of alpha matrix *key* for this forward pass, or ``None`` without edge
        normalisation."""
        name = self.beta_names.get(key)
        if name is None or name not in self._parameters:
            return None
        return node_softmax(getattr(self, name), self.node_in_degrees())

    def arch_edge_weights(self) -> Dict[str, np.ndarray]:
        """:meth:`edge_weights` per alpha key as arrays, for records (empty without edge normalisation)."""
        out = {}
        for key in self.beta_names:
            w = self.edge_weights(key)
            if w is not None:
                out[key] = w.detach().float().cpu().numpy()
        return out

    # ------------------------------------------------------------------ what each space provides
    def arch_weights(self) -> Dict[str, np.ndarray]:  # pragma: no cover - interface
        """Softmaxed architecture weights per alpha matrix (``{"normal": [14, 8], "reduce": ...}``)."""
        raise NotImplementedError

    def edge_labels(self, key: str) -> List[str]:  # pragma: no cover - interface
        """Row labels of alpha matrix *key* (``"node 1 <- node 0"``), for plots."""
        raise NotImplementedError

    def genotype(self) -> Any:  # pragma: no cover - interface
        """The discrete architecture the space's derivation rule gives for the current alphas."""
        raise NotImplementedError


__all__ = ["Supernet", "OpWeightsRule"]
