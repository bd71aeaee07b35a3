"""Interchangeable training objectives for UnNAS: Supervised, Rotation, Colorization, Jigsaw.

Each is a :class:`PretextTask` with a typed constructor, so LightningCLI selects one by class path
(``--model.task=Rotation``, or YAML ``class_path: pretext_tasks.Jigsaw``). See ``docs/pretext_tasks.md``.
"""

from pretext_tasks.base import PretextTask
from pretext_tasks.colorization import Colorization
from pretext_tasks.jigsaw import Jigsaw, hamming_permutations
from pretext_tasks.rotation import Rotation
from pretext_tasks.supervised import Supervised

__all__ = ["PretextTask", "Supervised", "Rotation", "Colorization", "Jigsaw", "hamming_permutations"]
