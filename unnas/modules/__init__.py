"""Lightning modules: DARTS search (``DartsSearch``) and architecture training (``ArchTraining``)."""

from unnas.modules.search import DartsSearch
from unnas.modules.strategies import GDAS, FirstOrder, SearchStrategy, SecondOrder
from unnas.modules.train import ArchTraining

__all__ = ["DartsSearch", "ArchTraining", "FirstOrder", "SecondOrder", "GDAS", "SearchStrategy"]
