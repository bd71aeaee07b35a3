"""Random search with weight sharing (Li & Talwalkar, UAI 2019): a uniformly random cell per weight step, then the
best of many random cells scored with the shared weights on held-out data."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from unnas.errors import ConfigError
from unnas.modules.strategies.base import (ArchSample, Evaluate, OpWeights, SearchStrategy, genotype_at, hard_weights,
                                           one_hot)
from unnas.spaces.oneshot import Supernet


def check_count(owner: str, name: str, value: Any, example: int) -> int:
    """*value* as an int; one-line :class:`ConfigError` unless it is an integer of at least 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{owner} search_strategy.init_args.{name}={value!r:.40}: must be a positive integer; set "
                          f"model.init_args.search_strategy.init_args.{name}, e.g. {example}")
    return int(value)


def uniform_sample(shapes: Dict[str, Tuple[int, int]]) -> ArchSample:
    """One op per edge, uniformly and independently, for every alpha key (torch's generator)."""
    return {k: tuple(torch.randint(ops, (edges,)).tolist()) for k, (edges, ops) in shapes.items()}


class RandomWS(SearchStrategy):
    """Random search with weight sharing (RSWS; Li & Talwalkar, "Random Search and Reproducibility for Neural
    Architecture Search", UAI 2019; NAS-Bench-201's ``RANDOM-NAS``).

    Every weight step trains the shared weights through one op per edge drawn uniformly at random; there is no
    architecture step (the alphas get no gradient, ``arch_lr`` and the other ``arch_*`` settings are unused).
    After every epoch *num_candidates* cells, drawn the same way, are scored with the shared weights on
    *eval_batches* held-out batches of the architecture split (accuracy; the same batches for every candidate);
    the epoch's architecture is the best one (the first on ties), and every candidate with its score is kept in
    the epoch's record (``strategy`` in ``alphas.json``).

    Args:
        num_candidates: random cells scored after each epoch (official ``--select_num 100``).
        eval_batches: held-out batches each candidate is scored on (NAS-Bench-201's script: one batch each).
    """

    short_name = "rsws"  # the name of its overlay (configs/search/strategies/rsws.yaml)

    runs_every_op = False
    arch_step = False

    def __init__(self, num_candidates: int = 100, eval_batches: int = 1):
        self.num_candidates = check_count("RandomWS", "num_candidates", num_candidates, 100)
        self.eval_batches = check_count("RandomWS", "eval_batches", eval_batches, 1)
        self.shapes: Dict[str, Tuple[int, int]] = {}
        self.candidates: List[ArchSample] = []
        self.scores: List[float] = []
        self.best: Optional[ArchSample] = None

    def configure_supernet(self, supernet: Supernet) -> None:
        self.shapes = {k: tuple(w.shape) for k, w in supernet.arch_weights().items()}

    def op_weights(self, alpha: torch.Tensor, key: str) -> OpWeights:
        return hard_weights(alpha, torch.randint(alpha.shape[-1], (alpha.shape[0],)).tolist())

    def on_epoch_end(self, epoch: int, max_epochs: int, evaluate: Optional[Evaluate] = None) -> None:
        if evaluate is None:
            return
        self.candidates = [uniform_sample(self.shapes) for _ in range(self.num_candidates)]
        self.scores = [float(s) for s in evaluate(self.candidates)]
        self.best = self.candidates[int(np.argmax(self.scores))]

    def derive(self, supernet: Supernet) -> Any:
        """The best candidate of the last evaluation (before any: the space's rule at the current alphas)."""
        if self.best is None:
            return supernet.genotype()
        return genotype_at(supernet, one_hot(self.best, self.shapes))

    def cells(self, supernet: Supernet) -> List[Dict[str, Any]]:
        """Every candidate of the last evaluation with its held-out score."""
        return [{"genotype": genotype_at(supernet, one_hot(c, self.shapes)), "score": s}
                for c, s in zip(self.candidates, self.scores)]

    def state_dict(self) -> Dict[str, Any]:
        if self.best is None:
            return {}
        return {"best_score": max(self.scores), "best": {k: list(v) for k, v in self.best.items()},
                "scores": list(self.scores), "candidates": [{k: list(v) for k, v in c.items()} for c in self.candidates]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if "best" not in state:
            return
        self.best = {k: tuple(v) for k, v in state["best"].items()}
        self.scores = [float(s) for s in state["scores"]]
        self.candidates = [{k: tuple(v) for k, v in c.items()} for c in state["candidates"]]
