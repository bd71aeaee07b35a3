"""Lightning modules: weight-sharing search (``WeightSharingSearch``; old name ``DartsSearch``) and architecture
training (``ArchTraining``)."""

from unnas.modules.search import DartsSearch, WeightSharingSearch
from unnas.modules.strategies import GDAS, FirstOrder, SearchStrategy, SecondOrder
from unnas.modules.train import ArchTraining

__all__ = ["WeightSharingSearch", "DartsSearch", "ArchTraining", "FirstOrder", "SecondOrder", "GDAS",
           "SearchStrategy"]
