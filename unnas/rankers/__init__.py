"""Training-free rankers (zero-cost proxies): score an untrained network from one batch, higher = predicted better.

Interface and batches in :mod:`unnas.rankers.base`; the registry below is the one place rankers are named
(``unnas rank --rankers``). See ``docs/rankers.md``.
"""

from __future__ import annotations

from typing import Dict, List, Type

from unnas.errors import ConfigError
from unnas.rankers.aggregate import Aggregate
from unnas.rankers.activations import NASWOT, Jacov
from unnas.rankers.aznas import AZNAS, AZComplexity, AZExpressivity, AZProgressivity, AZTrainability
from unnas.rankers.base import LossRanker, RankBatch, Ranker, data_batch, gaussian_batch, image_batch
from unnas.rankers.baselines import Macs, Params
from unnas.rankers.gradients import Fisher, GradNorm, Grasp, Snip
from unnas.rankers.gradsign import GradSign
from unnas.rankers.label_free import LabelFree
from unnas.rankers.meco import MeCo, MeCoOpt
from unnas.rankers.swap import SWAP
from unnas.rankers.synflow import Synflow
from unnas.rankers.tenas import TELinearRegions, TENTK
from unnas.rankers.vkdnw import VKDNW
from unnas.rankers.zico import ZiCo

#: every ranker by name, in the order ``--rankers`` help and reports list them (one class a line)
RANKERS: Dict[str, Type[Ranker]] = {cls.name: cls for cls in (
    Synflow,
    NASWOT,
    Jacov,
    GradNorm,
    Snip,
    Grasp,
    Fisher,
    ZiCo,
    GradSign,
    SWAP,
    Params,
    Macs,
    MeCo,
    MeCoOpt,
    AZExpressivity,
    AZProgressivity,
    AZTrainability,
    AZComplexity,
    TENTK,
    TELinearRegions,
    VKDNW,
    AZNAS,
    LabelFree,
    Aggregate,
)}


def ranker_names() -> List[str]:
    return list(RANKERS)


def ranker_class(name: str) -> Type[Ranker]:
    """The ranker registered as *name*; one-line :class:`~unnas.errors.ConfigError` naming the known ones otherwise."""
    if name not in RANKERS:
        raise ConfigError(f"unknown ranker {name!r}; known rankers: {', '.join(RANKERS)}")
    return RANKERS[name]


Aggregate.ranker_class = staticmethod(ranker_class)  # components named in an aggregate are found here

__all__ = ["RANKERS", "Ranker", "LossRanker", "RankBatch", "data_batch", "gaussian_batch", "image_batch", "ranker_class",
           "ranker_names", *(cls.__name__ for cls in RANKERS.values())]
