"""DDPNAS (Zheng et al., "DDPNAS: Efficient Neural Architecture Search via Dynamic Distribution Pruning", IJCV 2023):
a categorical distribution over the remaining ops of every edge, updated from held-out scores of sampled cells,
with the weakest op of every edge pruned every few epochs until one cell remains."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Sequence

import numpy as np
import torch

from unnas.errors import ConfigError
from unnas.modules.common import check_range
from unnas.modules.strategies.base import ArchSample, Evaluate, OpWeights, SearchStrategy, alpha_matrices, hard_weights
from unnas.modules.strategies.random_ws import check_count
from unnas.spaces.oneshot import Supernet


def round_scores(perf: np.ndarray, remaining: np.ndarray, temperature: float) -> np.ndarray:
    """One round's contribution ``[edges, ops]``: per edge ``softmax(temperature * perf)`` over the remaining ops
    (*perf*: each op's held-out accuracy in the round), 0 on pruned ops."""
    logits = np.where(remaining, temperature * np.asarray(perf, dtype=np.float64), -np.inf)
    logits = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def update_theta(theta: np.ndarray, rounds: Sequence[np.ndarray], decay: float) -> np.ndarray:
    """The official update: ``theta <- mean(rounds) + decay * theta`` (``rounds``: :func:`round_scores` of every
    round since the last pruning)."""
    return np.mean(np.stack(list(rounds)), axis=0) + decay * np.asarray(theta, dtype=np.float64)


def prune_weakest(theta: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """*remaining* with the op of lowest *theta* among each edge's remaining ops removed (ties: the lower op
    index), on every edge that still has more than one op."""
    out = np.array(remaining, dtype=bool)
    masked = np.where(out, theta, np.inf)
    for e in range(out.shape[0]):
        if out[e].sum() > 1:
            out[e, int(np.argmin(masked[e]))] = False
    return out


def probabilities(theta: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """The sampling distribution: *theta* restricted to the remaining ops and normalised per edge."""
    p = np.where(remaining, np.asarray(theta, dtype=np.float64), 0.0)
    return p / p.sum(axis=-1, keepdims=True)


class DDPNAS(SearchStrategy):
    """Dynamic distribution pruning (DDPNAS; Zheng et al., IJCV 2023, and the official search code).

    Per alpha matrix a categorical distribution ``theta [edges, ops]`` (uniform at the start) over the ops each edge
    still has. Every weight step trains the shared weights through one op per edge drawn from it (*sampling*
    ``"theta"``: ``theta`` normalised over the remaining ops; ``"uniform"``: uniformly over the remaining ops, as
    the official code draws). There is no architecture step. After every epoch one round scores every remaining
    op of every edge once: as many cells as an edge has ops left, each edge's ops in a random order, each cell
    scored with the shared weights on *eval_batches* held-out batches of the architecture split (accuracy, the
    same batches for every cell); an op's score is that of its cell, and the round contributes
    ``softmax(temperature * score)`` over each edge's remaining ops. Every *prune_every* epochs
    ``theta <- mean(rounds since the last pruning) + decay * theta`` and on every edge the remaining op with the
    lowest ``theta`` is pruned (never sampled again), until one op per edge remains: after
    ``prune_every * (ops - 1)`` epochs. The architecture is the space's derivation at the distribution (the
    alphas are set to ``log`` of it, so the heatmaps and ``alphas.json`` show it): the one remaining cell at
    the end, the most probable op per edge before.

    Args:
        prune_every: epochs between prunings (the official ``steps``).
        temperature: scale of the accuracies (fractions) in the softmax (official: 100).
        decay: weight of the previous ``theta`` in the update (official ``score_decay``: 0.5).
        eval_batches: held-out batches each cell of a round is scored on.
        sampling: how a weight step draws its cell: ``"theta"`` or ``"uniform"`` (see above).
    """

    runs_every_op = False
    arch_step = False

    def __init__(self, prune_every: int = 1, temperature: float = 100.0, decay: float = 0.5, eval_batches: int = 1,
                 sampling: Literal["theta", "uniform"] = "theta"):
        self.prune_every = check_count("DDPNAS", "prune_every", prune_every, 2)
        self.eval_batches = check_count("DDPNAS", "eval_batches", eval_batches, 1)
        check_range("DDPNAS", "search_strategy.init_args.temperature", temperature, low_open=True, example=100.0)
        check_range("DDPNAS", "search_strategy.init_args.decay", decay, example=0.5)
        if sampling not in ("theta", "uniform"):
            raise ConfigError(f"DDPNAS search_strategy.init_args.sampling={sampling!r:.40}: must be 'theta' or 'uniform'; "
                              "set model.init_args.search_strategy.init_args.sampling")
        self.temperature, self.decay, self.sampling = float(temperature), float(decay), sampling
        self.theta: Dict[str, np.ndarray] = {}
        self.remaining: Dict[str, np.ndarray] = {}
        self.rounds: List[Dict[str, np.ndarray]] = []
        self.last_scores: List[float] = []

    # ------------------------------------------------------------------------------ distribution
    def configure_supernet(self, supernet: Supernet) -> None:
        for key, w in supernet.arch_weights().items():
            edges, ops = w.shape
            self.theta[key] = np.full((edges, ops), 1.0 / ops)
            self.remaining[key] = np.ones((edges, ops), dtype=bool)

    def distribution(self, key: str) -> np.ndarray:
        """The sampling distribution of alpha matrix *key* (``[edges, ops]``, 0 on pruned ops)."""
        if self.sampling == "uniform":
            return probabilities(np.ones_like(self.theta[key]), self.remaining[key])
        return probabilities(self.theta[key], self.remaining[key])

    def ops_left(self) -> int:
        """The most ops any edge still has (1: the search has converged to one cell)."""
        return int(max(r.sum(axis=-1).max() for r in self.remaining.values())) if self.remaining else 0

    def op_weights(self, alpha: torch.Tensor, key: str) -> OpWeights:
        p = torch.as_tensor(self.distribution(key))
        return hard_weights(alpha, torch.multinomial(p, 1).squeeze(-1).tolist())

    # ------------------------------------------------------------------------------ rounds and pruning
    def round_samples(self) -> List[ArchSample]:
        """One round: ``ops_left()`` cells in which every remaining op of every edge appears once (each edge's ops
        in a random order; an edge with fewer ops left repeats its order)."""
        n = self.ops_left()
        samples: List[ArchSample] = [{} for _ in range(n)]
        for key, rem in self.remaining.items():
            columns = []
            for row in rem:
                ops = np.flatnonzero(row)
                order = ops[torch.randperm(len(ops)).numpy()]
                columns.append([int(order[j % len(ops)]) for j in range(n)])
            for j in range(n):
                samples[j][key] = tuple(c[j] for c in columns)
        return samples

    def on_epoch_end(self, epoch: int, max_epochs: int, evaluate: Optional[Evaluate] = None) -> None:
        if evaluate is None or self.ops_left() <= 1:
            return
        samples = self.round_samples()
        self.last_scores = [float(s) for s in evaluate(samples)]
        contribution = {}
        for key, rem in self.remaining.items():
            perf, seen = np.zeros(rem.shape), np.zeros(rem.shape)
            for sample, score in zip(samples, self.last_scores):
                perf[np.arange(rem.shape[0]), list(sample[key])] += score
                seen[np.arange(rem.shape[0]), list(sample[key])] += 1
            contribution[key] = round_scores(perf / np.maximum(seen, 1), rem, self.temperature)
        self.rounds.append(contribution)
        if (epoch + 1) % self.prune_every == 0:
            for key in self.theta:
                self.theta[key] = update_theta(self.theta[key], [r[key] for r in self.rounds], self.decay)
                self.remaining[key] = prune_weakest(self.theta[key], self.remaining[key])
            self.rounds = []

    @torch.no_grad()
    def derive(self, supernet: Supernet) -> Any:
        """The space's derivation at the distribution; the alphas are left at ``log`` of it."""
        for key, alpha in alpha_matrices(supernet).items():
            p = torch.as_tensor(probabilities(self.theta[key], self.remaining[key]), dtype=alpha.dtype)
            alpha.copy_(p.log().clamp_min(-1e4).to(alpha.device))
        return supernet.genotype()

    # ------------------------------------------------------------------------------ state
    def state_dict(self) -> Dict[str, Any]:
        if not self.theta:
            return {}
        return {"ops_left": self.ops_left(),
                "theta": {k: v.tolist() for k, v in self.theta.items()},
                "remaining": {k: v.astype(int).tolist() for k, v in self.remaining.items()},
                "rounds": [{k: v.tolist() for k, v in r.items()} for r in self.rounds],
                "round_scores": list(self.last_scores)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if "theta" not in state:
            return
        self.theta = {k: np.asarray(v, dtype=np.float64) for k, v in state["theta"].items()}
        self.remaining = {k: np.asarray(v, dtype=bool) for k, v in state["remaining"].items()}
        self.rounds = [{k: np.asarray(v, dtype=np.float64) for k, v in r.items()} for r in state["rounds"]]
        self.last_scores = [float(s) for s in state.get("round_scores", [])]


__all__ = ["DDPNAS", "round_scores", "update_theta", "prune_weakest", "probabilities"]
