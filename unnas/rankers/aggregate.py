"""Rank aggregation of several rankers: AZ-NAS's sum of log-ranks and the mean rank, over a set of architectures
(pure functions) and as a ranker of its own (:class:`Aggregate`).

A rank is relative to a set. :func:`log_rank_sum` and :func:`mean_rank` rank a whole set at once (feed them the
columns ``unnas rank`` prints, one sequence per ranker in the same architecture order). :class:`Aggregate` scores
one architecture at a time, as every ranker does, so that ``unnas rank`` can stream and a study can run it as one
job per architecture: each component's score is ranked against the same component's scores of a *reference
sample* of the space (``reference`` architectures drawn with a fixed seed, scored once per setting by
:func:`calibrate`), as if the architecture were added to that sample. Over a set, ordering by :class:`Aggregate`
equals ordering by :func:`log_rank_sum` with ranks taken in the space's distribution instead of the set's; with
the set as its own reference the two coincide.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from unnas.errors import ConfigError
from unnas.rankers.base import RankBatch, Ranker, batch_digest

METHODS = ("log_rank_sum", "mean_rank")


def _ranks(scores: Mapping[str, Sequence[float]]) -> np.ndarray:
    """``[proxies, N]`` average ranks (1 = lowest score, ties share their mean rank, as ``scipy.stats.rankdata``)."""
    if not scores:
        raise ConfigError("rank aggregation needs at least one proxy's scores")
    columns = [np.asarray(v, dtype=float) for v in scores.values()]
    n = len(columns[0])
    if n == 0 or any(c.ndim != 1 or len(c) != n for c in columns):
        raise ConfigError(f"every proxy needs one score per architecture, got lengths {[len(c) for c in columns]}")
    if any(np.isnan(c).any() for c in columns):
        raise ConfigError("rank aggregation got a NaN score; score degenerate networks with a finite value")
    return np.stack([rankdata(c) for c in columns])


def log_rank_sum(scores: Mapping[str, Sequence[float]]) -> np.ndarray:
    """AZ-NAS's aggregate (Lee & Ham, CVPR 2024, Eq. 12):
    ``Σ_proxies log(rank / N)`` per architecture, ranks ascending (the best score of a proxy has rank N, log 0).
    Higher is better; an architecture ranked last by one proxy is pulled down hard (``log(1/N)``), which is the
    point: it rewards architectures no proxy considers poor."""
    ranks = _ranks(scores)
    return np.log(ranks / ranks.shape[1]).sum(axis=0)


def mean_rank(scores: Mapping[str, Sequence[float]]) -> np.ndarray:
    """The linear baseline the paper compares with: the mean over proxies of each architecture's rank (higher is
    better)."""
    return _ranks(scores).mean(axis=0)


def reference_rank(reference: Sequence[float], value: float) -> float:
    """The rank *value* would have among the scores *reference* (``n`` of them) if it were added to them, as a
    fraction of ``n + 1``: ``(1 + #{r < value} + ½ #{r = value}) / (n + 1)``, in ``[1/(n+1), 1]`` (1: above every
    reference score). Between two neighbouring reference scores the count grows linearly, so distinct values
    keep their order wherever the reference separates them; outside the reference's range it is constant."""
    ref = np.sort(np.asarray(reference, dtype=float))
    n = len(ref)
    if n == 0:
        raise ConfigError("a reference rank needs at least one reference score")
    if np.isnan(value):
        raise ConfigError("rank aggregation got a NaN score; score degenerate networks with a finite value")
    points, first = np.unique(ref, return_index=True)
    counts = np.diff(np.append(first, n))
    midranks = first + counts / 2.0  # #{r < v} + ½ #{r = v} at each distinct reference score
    below = float(np.interp(value, points, midranks, left=0.0, right=float(n)))
    return (1.0 + below) / (n + 1)


def combine(ranks: Sequence[float], method: str) -> float:
    """One architecture's aggregate from its rank fractions (each in ``(0, 1]``): ``Σ log r`` (``log_rank_sum``)
    or ``mean r`` (``mean_rank``)."""
    r = np.asarray(ranks, dtype=float)
    if method == "log_rank_sum":
        return float(np.log(r).sum())
    if method == "mean_rank":
        return float(r.mean())
    raise ConfigError(f"unknown aggregation method {method!r}; use one of {', '.join(METHODS)}")


def _component(spec: Union[str, Ranker], seed: int) -> Ranker:
    if isinstance(spec, Ranker):
        if isinstance(spec, Aggregate):
            raise ConfigError("an aggregate's components must be single rankers, not another aggregate")
        return spec
    if not isinstance(spec, str):
        raise ConfigError(f"an aggregate's component must be a registered ranker's name or a Ranker, got {spec!r}")
    cls = Aggregate.ranker_class(spec)
    if issubclass(cls, Aggregate):
        raise ConfigError(f"an aggregate's components must be single rankers; {spec!r} is an aggregate")
    return cls(seed=seed)


class Aggregate(Ranker):
    """Several rankers combined by rank, fixed in advance: never fitted to accuracies.

    Each component ranks the architecture against its own scores of a reference sample of the space
    (:func:`reference_rank`); the ranks are combined by ``method``. The caller scores the reference once per
    setting through :func:`calibrate` (``unnas rank`` and study jobs do; the result is kept for the process).

    Args:
        rankers: the components: registered names (``meco_opt``) or rankers (YAML ``class_path``/``init_args``);
            at least one; each gets this ranker's ``seed``.
        method: ``log_rank_sum`` (AZ-NAS's ``Σ log(rank / N)``) or ``mean_rank`` (the linear combination).
        reference: architectures in the reference sample (drawn by the space's ``sample``).
        reference_seed: the seed of that sample (the same architectures for every scoring seed).
        seed: seeds every component, and the networks of the reference (built after ``torch.manual_seed(seed)``,
            as the scored ones).
    """

    name = "aggregate"
    #: the registry's lookup of a ranker by name, set by :mod:`unnas.rankers` (which registers the aggregates too,
    #: so this module cannot import it)
    ranker_class: ClassVar[Callable[[str], type]]

    def __init__(self, rankers: Sequence[Union[str, Ranker]] = ("az_expressivity", "az_progressivity",
                                                              "az_trainability", "az_complexity"),
                 method: str = "log_rank_sum", reference: int = 128, reference_seed: int = 0, seed: int = 0):
        if method not in METHODS:
            raise ConfigError(f"unknown aggregation method {method!r}; use one of {', '.join(METHODS)}")
        if not rankers:
            raise ConfigError("an aggregate needs at least one ranker")
        if reference < 1:
            raise ConfigError(f"an aggregate's reference sample needs at least one architecture, got {reference}")
        self.components: List[Ranker] = [_component(r, seed) for r in rankers]
        self.method, self.reference, self.reference_seed = method, int(reference), int(reference_seed)
        self.needs_images = any(c.needs_images for c in self.components)
        self.reference_scores: Optional[List[np.ndarray]] = None
        super().__init__(seed)

    @property
    def seed(self) -> int:
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:  # a study sets the job's seed after construction: the components follow
        self._seed = int(value)
        for c in self.components:
            c.seed = int(value)
        self.reference_scores = None

    def component_scores(self, net: nn.Module, batch: RankBatch) -> List[float]:
        """Every component's score of *net* on *batch*, in order."""
        return [c.score(net, batch) for c in self.components]

    def calibrated(self) -> bool:
        return self.reference_scores is not None

    def set_reference(self, rows: Sequence[Sequence[float]]) -> None:
        """The reference sample's scores: one row per reference architecture, one column per component."""
        table = np.asarray(rows, dtype=float)
        if table.ndim != 2 or table.shape[1] != len(self.components) or table.shape[0] < 1:
            raise ConfigError(f"the reference needs one row of {len(self.components)} scores per architecture, got "
                              f"shape {table.shape}")
        self.reference_scores = [np.sort(table[:, j]) for j in range(table.shape[1])]

    def combine(self, values: Sequence[float]) -> float:
        """The aggregate of one architecture's component scores *values* against the reference."""
        if self.reference_scores is None:
            raise ConfigError(f"{self.name} ranks against a reference sample of the space: score it through "
                              "`unnas rank` or a study, or call unnas.rankers.aggregate.calibrate first")
        return combine([reference_rank(ref, v) for ref, v in zip(self.reference_scores, values)], self.method)

    def score(self, net: nn.Module, batch: RankBatch) -> float:
        return self.combine(self.component_scores(net, batch))

    def _score(self, net: nn.Module, batch: RankBatch) -> float:  # pragma: no cover - score is overridden
        return self.score(net, batch)

    def setting_key(self) -> Tuple:
        """What the reference scores depend on besides the space, batch and networks: every component's class and
        settings, the method, the reference and the seed."""
        components = tuple(f"{type(c).__module__}.{type(c).__qualname__}"
                           f"{sorted((k, repr(v)) for k, v in vars(c).items())}" for c in self.components)
        return (type(self).__name__, components, self.method, self.reference, self.reference_seed, self.seed)

    def __repr__(self) -> str:
        names = ", ".join(c.name for c in self.components)
        return (f"{type(self).__name__}(rankers=[{names}], method={self.method}, reference={self.reference}, "
                f"seed={self.seed})")


#: reference scores already computed in this process, by setting
_CALIBRATIONS: Dict[Hashable, List[np.ndarray]] = {}


def calibrate(ranker: Ranker, space: Any, build: Callable[[Any], nn.Module], batch: RankBatch,
              build_key: Hashable = (), progress: Optional[Callable[[int, int], None]] = None) -> None:
    """Score *ranker*'s reference sample when it has one (an :class:`Aggregate`; any other ranker is left as it
    is): ``space.sample(reference, reference_seed)``, each network made by ``build(arch)`` after
    ``torch.manual_seed(ranker.seed)`` (as the scored networks are), scored on *batch*. *build_key* names what
    else *build* depends on (classes, head); the scores are kept for the process under the space's name and shape,
    the ranker's setting, *build_key* and the batch. *progress* is called with ``(done, total)``."""
    if not isinstance(ranker, Aggregate) or ranker.calibrated():
        return
    shape = tuple(sorted(space.shape().items())) if hasattr(space, "shape") else ()
    key = (getattr(space, "name", type(space).__name__), shape, ranker.setting_key(), build_key, batch_digest(batch))
    if key not in _CALIBRATIONS:
        archs = space.sample(ranker.reference, seed=ranker.reference_seed)
        rows = []
        for i, arch in enumerate(archs):
            torch.manual_seed(ranker.seed)
            rows.append(ranker.component_scores(build(arch), batch))
            if progress is not None:
                progress(i + 1, len(archs))
        ranker.set_reference(rows)
        _CALIBRATIONS[key] = ranker.reference_scores
    ranker.reference_scores = _CALIBRATIONS[key]


__all__ = ["Aggregate", "METHODS", "calibrate", "combine", "log_rank_sum", "mean_rank", "reference_rank"]
