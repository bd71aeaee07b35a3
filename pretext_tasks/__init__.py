"""Interchangeable training objectives: Supervised, Rotation, Colorization, Jigsaw (UnNAS), RandomLabels
(RLNAS) and Contrastive (SimCLR).

Each is a :class:`PretextTask` with a typed constructor, so LightningCLI selects one by class path
(``--model.task=Rotation``, or YAML ``class_path: pretext_tasks.Jigsaw``). See ``docs/pretext_tasks.md``.
"""

from pretext_tasks.base import PretextTask
from pretext_tasks.colorization import Colorization
from pretext_tasks.contrastive import Contrastive
from pretext_tasks.jigsaw import Jigsaw, hamming_permutations
from pretext_tasks.random_labels import RandomLabels
from pretext_tasks.rotation import Rotation
from pretext_tasks.supervised import Supervised

__all__ = ["PretextTask", "Supervised", "Rotation", "Colorization", "Jigsaw", "RandomLabels", "Contrastive",
           "hamming_permutations"]
