"""The settings of a study report and the constants its sections share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Tuple, Union

from unnas.errors import ConfigError
from unnas.study.stats import DEFAULT_TOP_K, SUPERVISED

BEST_OF_M_SEED = 2  # the paper's np.random.seed(2) in figs/fig5.py
ARCH_ROWS_ALL = 60  # up to this many architectures, report.md/html show every row of the per-architecture table
ARCH_ROWS_EDGE = 20  # beyond it, the top and the bottom this many (architectures.csv has all)
SIZE_FIELDS = ("params", "macs")  # model-size columns of the per-architecture table
GROUND_TRUTH_COLUMN = "ground truth"  # the true-accuracy column of architectures.csv
# The size field whose ranker's score is that size itself (unnas.rankers.baselines: ``Macs.name``); its scores stand
# in for architectures no record gives the field for. No rankers import here: they need torch.
SIZE_RANKERS = {"params": "params", "macs": "macs"}
COMMON = ("pair", "all")


@dataclass(frozen=True)
class ReportSettings:
    """How a report is computed and titled (the records and the tables compared with them are its inputs).

    ``n_boot`` bootstrap resamples with seed ``seed`` give the ``ci`` intervals; ``ks``: the top-k sizes (ints are
    counts, floats in (0, 1) fractions of n); ``common``: ``"pair"`` (each comparison uses the archs its two tasks
    share) or ``"all"`` (every comparison uses the archs all tasks share, as the paper's figures); ``supervised``:
    the baseline objective; ``*_name``: the names of the reference, the ground truth and the benchmark-table
    scores; ``figures=False`` skips the PNGs (the numbers are the same)."""

    title: str = "UnNAS sample-based study"
    n_boot: int = 1000
    seed: int = 0
    ci: float = 0.95
    ks: Tuple[Union[int, float], ...] = DEFAULT_TOP_K
    common: str = "pair"
    supervised: str = SUPERVISED
    reference_name: str = "reference"
    ground_truth_name: str = "ground truth"
    table_scores_name: str = "benchmark"
    figures: bool = True

    def __post_init__(self) -> None:
        if self.common not in COMMON:
            raise ConfigError(f"common must be 'pair' or 'all', got {self.common!r}; use 'pair' (each comparison "
                              "on the archs its two tasks share) or 'all' (on the archs all tasks share)")
        object.__setattr__(self, "ks", tuple(self.ks))

    def bootstrap(self) -> Dict[str, Any]:
        """The bootstrap keywords of the statistics (``n_boot``, ``seed``, ``ci``)."""
        return {"n_boot": self.n_boot, "seed": self.seed, "ci": self.ci}

    def compare_kw(self) -> Dict[str, Any]:
        """The keywords of :func:`unnas.study.stats.compare` and :func:`~unnas.study.stats.pairwise_table`."""
        return {**self.bootstrap(), "ks": self.ks}
