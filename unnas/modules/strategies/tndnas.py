"""TND-NAS (Lyu & Wen, "TND-NAS: Towards Non-Differentiable Objectives in Differentiable Neural Architecture Search",
arXiv 2111.03892): DARTS first order on a space that shrinks progressively by alpha, with a non-differentiable
resource objective (a budget on parameters or multiply-adds) met by an accuracy–cost Pareto front of cells sampled
from the shrinking distribution."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from unnas.errors import ConfigError
from unnas.modules.common import check_range
from unnas.modules.strategies.base import (ArchSample, Cost, Evaluate, OpWeights, alpha_matrices, genotype_at,
                                           one_hot)
from unnas.modules.strategies.darts import FirstOrder
from unnas.modules.strategies.random_ws import check_count
from unnas.pareto import pareto_front
from unnas.spaces.oneshot import Supernet

#: the alpha a removed op is set to, so that ``softmax(alpha)`` (records, heatmaps, the space's rule) is 0 there
REMOVED_ALPHA = -1e4


def shrink(alpha: np.ndarray, remaining: np.ndarray, min_ops: int) -> np.ndarray:
    """*remaining* ``[edges, ops]`` with, on every edge that has more than *min_ops* ops left, the remaining op of
    lowest *alpha* removed (ties: the lower op index)."""
    out = np.array(remaining, dtype=bool)
    masked = np.where(out, np.asarray(alpha, dtype=np.float64), np.inf)
    for e in range(out.shape[0]):
        if out[e].sum() > min_ops:
            out[e, int(np.argmin(masked[e]))] = False
    return out


def budget_front(costs: Sequence[float], scores: Sequence[float], budget: Optional[float]) -> List[bool]:
    """For each cell (cost, held-out score): True when its cost is within *budget* (``None``: no budget) and no
    other cell within budget is at most as costly and at least as accurate while strictly better in one of them."""
    within = [budget is None or float(c) <= budget for c in costs]
    inside = [i for i, ok in enumerate(within) if ok]
    on = pareto_front([(costs[i], scores[i]) for i in inside])
    out = [False] * len(within)
    for i, keep in zip(inside, on):
        out[i] = keep
    return out


def masked_softmax(alpha: torch.Tensor, remaining: torch.Tensor) -> torch.Tensor:
    """``softmax(alpha)`` over each edge's remaining ops (*remaining*: bool ``[edges, ops]``), exactly 0 on removed
    ops, which get no gradient."""
    return torch.softmax(alpha.masked_fill(~remaining, -math.inf), dim=-1)


class TNDNAS(FirstOrder):
    """Progressive space shrinking with a non-differentiable resource objective (TND-NAS; Lyu & Wen, arXiv
    2111.03892).

    The weights and alphas train as DARTS first order, with op weights ``softmax(alpha)`` over each edge's
    remaining ops. Every *shrink_every* epochs, on every edge with more than *min_ops* ops left, the remaining op of
    lowest alpha is removed: its op weight is exactly 0, it never runs again (its parameters and its alpha get no
    gradient), and its alpha is set to -1e4 so the records show the shrunk distribution. Then *num_candidates*
    cells are drawn from the shrunk distribution (one op per edge, torch's generator), each distinct one scored
    with the shared weights on *eval_batches* held-out batches of the architecture split and sized with the
    module's cost function (*resource*: ``"params"`` or ``"macs"`` of its network). The strategy keeps the running
    accuracy–cost Pareto front of every cell scored so far whose cost is within *budget*; :meth:`cells` returns it
    and :meth:`derive` its most accurate cell. Before any cell is scored, the derivation is the space's rule at the
    alphas restricted to the remaining ops; when no scored cell is within budget, the cheapest one (the state's
    ``derived_from`` says which).

    Args:
        budget: the most *resource* an architecture may cost (``None``: no budget, the plain Pareto front).
        resource: ``"params"`` or ``"macs"`` (of the architecture's network at the search's shape and input).
        shrink_every: epochs between shrinks.
        min_ops: the fewest ops an edge keeps.
        num_candidates: cells drawn from the shrunk distribution at each shrink.
        eval_batches: held-out batches each candidate is scored on.
    """

    runs_every_op = False

    def __init__(self, budget: Optional[float] = None, resource: Literal["params", "macs"] = "macs",
                 shrink_every: int = 1, min_ops: int = 1, num_candidates: int = 10, eval_batches: int = 1):
        check_range("TNDNAS", "search_strategy.init_args.budget", budget, low_open=True, example=4.5e6)
        if resource not in ("params", "macs"):
            raise ConfigError(f"TNDNAS search_strategy.init_args.resource={resource!r:.40}: must be 'params' or 'macs'; "
                              "set model.init_args.search_strategy.init_args.resource")
        self.budget = None if budget is None else float(budget)
        self.resource = resource
        self.shrink_every = check_count("TNDNAS", "shrink_every", shrink_every, 2)
        self.min_ops = check_count("TNDNAS", "min_ops", min_ops, 1)
        self.num_candidates = check_count("TNDNAS", "num_candidates", num_candidates, 10)
        self.eval_batches = check_count("TNDNAS", "eval_batches", eval_batches, 1)
        self.cost: Optional[Cost] = None
        self.supernet: Optional[Supernet] = None
        self.shapes: Dict[str, Tuple[int, int]] = {}
        self.remaining: Dict[str, np.ndarray] = {}
        self._masks: Dict[str, torch.Tensor] = {}
        self.rounds = 0
        #: the front: ``{"sample", "score", "params", "macs"}`` per cell, cheapest first
        self.front: List[Dict[str, Any]] = []
        #: the cheapest cell scored so far while none is within budget (else None)
        self.cheapest: Optional[Dict[str, Any]] = None
        self.last_round: List[Dict[str, Any]] = []

    # ------------------------------------------------------------------------------ setup and op weights
    def configure_supernet(self, supernet: Supernet) -> None:
        if self.supernet is supernet:
            return
        self.supernet = supernet
        self.shapes = {k: tuple(w.shape) for k, w in supernet.arch_weights().items()}
        ops = min(o for _, o in self.shapes.values())
        if self.min_ops > ops:
            raise ConfigError(f"TNDNAS search_strategy.init_args.min_ops={self.min_ops}: an edge of this space has only "
                              f"{ops} ops; set model.init_args.search_strategy.init_args.min_ops to at most {ops}")
        self._set_remaining({k: np.ones(s, dtype=bool) for k, s in self.shapes.items()})

    def configure_cost(self, cost: Cost) -> None:
        self.cost = cost

    def _set_remaining(self, remaining: Dict[str, np.ndarray]) -> None:
        self.remaining = {k: np.asarray(v, dtype=bool) for k, v in remaining.items()}
        self._masks = {k: torch.as_tensor(v) for k, v in self.remaining.items()}

    def op_weights(self, alpha: torch.Tensor, key: str) -> Union[torch.Tensor, OpWeights]:
        """``softmax(alpha)`` over each edge's remaining ops; removed ops are left out of the mixed ops' sums."""
        mask = self._masks.get(key)
        if mask is None or bool(mask.all()):
            return torch.softmax(alpha, dim=-1)
        runs = tuple(tuple(bool(r) for r in row) for row in self.remaining[key])
        return OpWeights(masked_softmax(alpha, mask.to(alpha.device)), runs=runs)

    def ops_left(self) -> int:
        """The most ops any edge still has."""
        return int(max(r.sum(axis=-1).max() for r in self.remaining.values())) if self.remaining else 0

    def distribution(self, key: str) -> torch.Tensor:
        """The current distribution of alpha matrix *key*: ``softmax(alpha)`` over each edge's remaining ops."""
        alpha = alpha_matrices(self.supernet)[key].detach().double().cpu()
        return masked_softmax(alpha, self._masks[key])

    # ------------------------------------------------------------------------------ shrinking and the front
    @torch.no_grad()
    def shrink_space(self) -> None:
        """Remove on every edge with more than ``min_ops`` ops the remaining op of lowest alpha; its alpha is set to
        :data:`REMOVED_ALPHA`."""
        alphas = alpha_matrices(self.supernet)
        new = {k: shrink(alphas[k].detach().double().cpu().numpy(), r, self.min_ops) for k, r in self.remaining.items()}
        for k, a in alphas.items():
            a.masked_fill_(torch.as_tensor(~new[k], device=a.device), REMOVED_ALPHA)
        self._set_remaining(new)

    def sample_candidates(self) -> List[ArchSample]:
        """``num_candidates`` cells, one op per edge from the current distribution (torch's generator)."""
        probs = {k: self.distribution(k) for k in self.shapes}
        return [{k: tuple(torch.multinomial(p, 1).squeeze(-1).tolist()) for k, p in probs.items()}
                for _ in range(self.num_candidates)]

    def _genotype(self, sample: ArchSample) -> Any:
        return genotype_at(self.supernet, one_hot(sample, self.shapes))

    def on_epoch_end(self, epoch: int, max_epochs: int, evaluate: Optional[Evaluate] = None) -> None:
        if evaluate is None or (epoch + 1) % self.shrink_every:
            return
        if self.cost is None:
            raise RuntimeError("TNDNAS needs the module's cost function (configure_cost) to hold its budget")
        self.shrink_space()
        self.rounds += 1
        samples = list({tuple(sorted(s.items())): s for s in self.sample_candidates()}.values())
        scores = [float(s) for s in evaluate(samples)]
        scored = [{"sample": {k: list(v) for k, v in s.items()}, "score": sc, **self.cost(self._genotype(s))}
                  for s, sc in zip(samples, scores)]
        self.last_round = scored
        self._update_front(scored)

    def _update_front(self, scored: List[Dict[str, Any]]) -> None:
        pool = {_key(c): c for c in self.front}
        pool.update({_key(c): c for c in scored})  # a cell scored again keeps its latest score
        cells = list(pool.values())
        on = budget_front([c[self.resource] for c in cells], [c["score"] for c in cells], self.budget)
        self.front = sorted((c for c, keep in zip(cells, on) if keep), key=lambda c: (c[self.resource], -c["score"]))
        if self.front:
            self.cheapest = None
        else:
            candidates = scored + ([self.cheapest] if self.cheapest else [])
            self.cheapest = min(candidates, key=lambda c: (c[self.resource], -c["score"]))

    def derived_from(self) -> str:
        """Where :meth:`derive` takes its cell: ``"front"``, ``"cheapest_over_budget"`` or ``"alphas"``."""
        return "front" if self.front else "cheapest_over_budget" if self.cheapest else "alphas"

    def derive(self, supernet: Supernet) -> Any:
        """The most accurate front cell (ties: the cheapest); with no cell within budget the cheapest cell scored;
        before any is scored, the space's rule at the alphas restricted to the remaining ops."""
        if self.front:
            best = max(self.front, key=lambda c: (c["score"], -c[self.resource]))
        elif self.cheapest is not None:
            best = self.cheapest
        else:
            probs = {k: masked_softmax(a.detach().double().cpu(), self._masks[k])
                     for k, a in alpha_matrices(supernet).items()}
            return genotype_at(supernet, probs)
        return genotype_at(supernet, one_hot(best["sample"], self.shapes))

    def cells(self, supernet: Supernet) -> List[Dict[str, Any]]:
        """The front's cells with their held-out scores (cheapest first)."""
        return [{"genotype": genotype_at(supernet, one_hot(c["sample"], self.shapes)), "score": c["score"]}
                for c in self.front]

    # ------------------------------------------------------------------------------ state
    def state_dict(self) -> Dict[str, Any]:
        if not self.remaining:
            return {}
        return {"ops_left": self.ops_left(), "rounds": self.rounds, "front_size": len(self.front),
                "resource": self.resource, "budget": self.budget, "derived_from": self.derived_from(),
                "budget_met": bool(self.front) if (self.front or self.cheapest) else None,
                "remaining": {k: v.astype(int).tolist() for k, v in self.remaining.items()},
                "front": [dict(c) for c in self.front],
                "cheapest": None if self.cheapest is None else dict(self.cheapest),
                "last_round": [dict(c) for c in self.last_round]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if "remaining" not in state:
            return
        self._set_remaining({k: np.asarray(v, dtype=bool) for k, v in state["remaining"].items()})
        self.rounds = int(state["rounds"])
        self.front = [dict(c) for c in state["front"]]
        self.cheapest = None if state.get("cheapest") is None else dict(state["cheapest"])
        self.last_round = [dict(c) for c in state.get("last_round", [])]


def _key(cell: Dict[str, Any]) -> Tuple:
    return tuple((k, tuple(v)) for k, v in sorted(cell["sample"].items()))


__all__ = ["TNDNAS", "shrink", "budget_front", "masked_softmax", "REMOVED_ALPHA"]
