"""The NAS-Bench-201 cell space behind the search-space seam (:class:`NB201Space`)."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import numpy as np

from unnas.errors import ConfigError
from unnas.spaces.base import (ArchError, DatasetSpec, GroundTruth, HeadFactory, SearchSpace, json_for_recognition,
                               register_space)
from unnas.spaces.nb201.cell import (NUM_CELLS, NB201Cell, cell_from_dict, cell_from_index, cell_index, cell_to_dict,
                                     check_cell, format_cell, parse_cell, sample_cells)
from unnas.spaces.nb201.networks import TinyNetwork
from unnas.spaces.nb201.supernet import NB201Supernet
from unnas.spaces.speedups import Speedups

#: prefix of the names of all 15,625 cells: ``nb201/<index>``, the index of ``enumerate_cells`` in 5 digits
INDEX_PREFIX = "nb201/"
_INDEX_NAME = re.compile(r"nb201/[0-9]{5}")

#: Named cells: name -> (arch string, where it comes from). Each string was checked against the cited source.
NAMED_CELLS: Dict[str, Tuple[str, str]] = {
    "nb201_resnet": (
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
        "the ResNet-like cell (two 3x3 convs and a skip) of NAS-Bench-201's baselines: the official "
        "`ResNet_CODE` in AutoDL-Projects cell_searchs/genotypes.py ('resnet'), missing edges written as none"),
    "nb201_all_skip": (
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
        "the all-skip_connect cell first-order DARTS collapses to on CIFAR-10 (AutoDL-Projects exps/algos-v2/"
        "README.md lists it for DARTS V1 and V2; NAS-Bench-201 reports 54.30% CIFAR-10 test accuracy); the "
        "official `AllIdentity_CODE` ('all_idnt')"),
    "nb201_all_conv3x3": (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "every edge a 3x3 conv, the largest cell: the official `AllConv3x3_CODE` ('all_c3x3') in "
        "cell_searchs/genotypes.py (NATS-Bench's notebooks/find-largest.ipynb queries it as the largest model)"),
    "nb201_all_conv1x1": (
        "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|",
        "every edge a 1x1 conv: the official `AllConv1x1_CODE` ('all_c1x1') in cell_searchs/genotypes.py"),
}

_SETS_HELP = ("nb201-table (the 491 cells of NASLib's NAS-Bench-201 table), nb201-table:N (N of them, evenly "
              "spaced), nb201-table:N:SEED (N drawn at random), nb201-sample:N[:SEED] (N of all 15,625)")


def cell_name(cell: Any) -> str:
    """``nb201/<index>`` of *cell* (the index of :func:`~unnas.spaces.nb201.cell.enumerate_cells`, 5 digits)."""
    return f"{INDEX_PREFIX}{cell_index(cell):05d}"


class _Registry(Mapping):
    """The named cells, then ``nb201/00000`` ... ``nb201/15624``, computed on access."""

    def __getitem__(self, name: str) -> NB201Cell:
        if name in NAMED_CELLS:
            return parse_cell(NAMED_CELLS[name][0])
        if isinstance(name, str) and _INDEX_NAME.fullmatch(name) and int(name[len(INDEX_PREFIX):]) < NUM_CELLS:
            return cell_from_index(int(name[len(INDEX_PREFIX):]))
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        yield from NAMED_CELLS
        for i in range(NUM_CELLS):
            yield f"{INDEX_PREFIX}{i:05d}"

    def __len__(self) -> int:
        return len(NAMED_CELLS) + NUM_CELLS


@register_space
class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): 4-node cells, 6 edges, 5 ops, 15,625 cells.

    Args:
        channels: channels of the first stage, C (NAS-Bench-201: 16).
        layers: cells per stage, N (NAS-Bench-201: 5); the network has ``3 * N`` cells and 2 residual blocks.
        speedups: exact performance switches (``Speedups.off()`` is the plain formulation); a switch left unset
            (null or "auto") is chosen by the device the network runs on (:meth:`speedups_for`).

    Architectures are :class:`~unnas.spaces.nb201.cell.NB201Cell` s, written as NAS-Bench-201 arch strings.
    ``sample`` is uniform over all 15,625 cells without replacement (:func:`~unnas.spaces.nb201.cell.sample_cells`).
    """

    name = "nb201"
    summary = "NAS-Bench-201 cells (4 nodes, 6 edges, 5 ops, 15,625 cells); arch strings |op~0|+|op~0|op~1|+|...|"
    default_study_config = "configs/study/nb201_cifar10_cpu.yaml"
    arch_noun = "a NAS-Bench-201 cell"
    expects = ("an arch string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|, a NASLib tuple (i0, ..., i5), nb201/<index>, "
               "a named cell (nb201_resnet) or JSON {\"space\": \"nb201\", \"arch\": ...}")
    train_config = "configs/train/nb201_cifar10_cpu.yaml"
    #: on one H200 the supernet's search step with every switch was 1.24x faster than plain at 0.56x the memory
    #: (docs/benchmarks.md, section (g)), so CUDA keeps them all here
    device_speedups = {"cuda": Speedups.on()}
    datasets = {
        "cifar10": DatasetSpec(10, 32, "cifar"),
        "cifar100": DatasetSpec(100, 32, "cifar"),
        "imagenet16-120": DatasetSpec(120, 16, "cifar"),
    }

    def __init__(self, channels: int = 16, layers: int = 5, speedups: Speedups = Speedups()):
        for what, value in (("channels", channels), ("layers", layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"NAS-Bench-201 {what} must be a positive integer, got {value!r}")
        self.channels, self.layers, self.speedups = channels, layers, speedups

    # ------------------------------------------------------------------------------------------ notation
    def parse(self, text: str) -> NB201Cell:
        t = text.strip() if isinstance(text, str) else text
        if isinstance(t, str) and t.startswith(INDEX_PREFIX) and t not in self.registry():
            raise ArchError(f"unknown NAS-Bench-201 name {t[:40]!r}: cells are named nb201/00000 to "
                            f"nb201/{NUM_CELLS - 1} (5 digits)")
        return parse_cell(text)

    def format(self, arch: Any) -> str:
        return format_cell(arch)

    def to_dict(self, arch: Any) -> Dict[str, Any]:
        return cell_to_dict(arch)

    def from_dict(self, obj: Any) -> NB201Cell:
        return cell_from_dict(obj)

    def arch_features(self, arch: Any) -> np.ndarray:
        """One-hot op per edge, the 6 edges in arch-string order (30 numbers)."""
        from unnas.spaces.nb201.ops import PRIMITIVES

        eye = np.eye(len(PRIMITIVES), dtype=np.float32)
        return np.concatenate([eye[PRIMITIVES.index(op)] for op in self.from_dict(self.to_dict(arch))])

    @classmethod
    def is_arch(cls, obj: Any) -> bool:
        if not isinstance(obj, NB201Cell):
            return False
        try:
            check_cell(obj)
        except ArchError:
            return False
        return True

    @classmethod
    def recognises(cls, text: str) -> bool:
        t = text.strip() if isinstance(text, str) else ""
        if not t:
            return False
        if t.startswith("|") or t.startswith(INDEX_PREFIX) or t in NAMED_CELLS:
            return True
        if t.startswith("(") and t.endswith(")") and re.fullmatch(r"\(\s*[0-9]+(\s*,\s*[0-9]+){5}\s*,?\s*\)", t):
            return True
        if t.startswith(("{", "[")):
            obj = json_for_recognition(t)
            if isinstance(obj, list):
                return len(obj) == 6 and all(isinstance(v, int) and not isinstance(v, bool) for v in obj)
            if not isinstance(obj, dict):
                return False
            if "space" in obj:
                return obj["space"] == "nb201"
            arch = obj.get("arch")
            return "naslib" in obj or (isinstance(arch, str) and arch.strip().startswith("|"))
        return False

    # ------------------------------------------------------------------------------------------ registry
    def registry(self) -> Mapping[str, NB201Cell]:
        return _Registry()

    def describe(self, name: str) -> str:
        if name in NAMED_CELLS:
            return NAMED_CELLS[name][1]
        if name in self.registry():
            return f"cell {int(name[len(INDEX_PREFIX):])} of the 15,625 in this package's order (base 5 over the edges)"
        return ""

    def listed_names(self) -> List[str]:
        return list(NAMED_CELLS)

    def collapsed_names(self) -> List[Tuple[str, str]]:
        return [(INDEX_PREFIX + "<index>", f"all {NUM_CELLS:,} cells by their index in this package's order (base 5 "
                                           "over the edges in arch-string order; not the benchmark API's index); "
                                           "--all lists them")]

    def sample(self, n: int, seed: int = 0) -> List[NB201Cell]:
        return sample_cells(n, seed)

    def arch_set(self, spec: str) -> Optional[List[Tuple[str, NB201Cell]]]:
        from unnas.spaces.sets import evenly_spaced, parse_count_seed

        if spec == "nb201-table" or spec.startswith("nb201-table:"):
            cells = [parse_cell(a) for a in self._table().archs()]
            if spec != "nb201-table":
                n, seed = parse_count_seed(spec)
                if n > len(cells):
                    raise ArchError(f"{spec!r} asks for {n} cells but the NAS-Bench-201 table holds {len(cells)}")
                if seed is None:
                    cells = evenly_spaced(cells, n)
                else:
                    cells = [cells[int(i)] for i in np.random.default_rng(seed).permutation(len(cells))[:n]]
            return [(cell_name(c), c) for c in cells]
        if spec.startswith("nb201-sample:"):
            n, seed = parse_count_seed(spec)
            if n > NUM_CELLS:
                raise ArchError(f"{spec!r} asks for {n} cells but NAS-Bench-201 has {NUM_CELLS}")
            return [(cell_name(c), c) for c in sample_cells(n, 0 if seed is None else seed)]
        return None

    def arch_set_help(self) -> str:
        return _SETS_HELP

    # ------------------------------------------------------------------------------------------ networks
    def network(self, arch: Any, head: Optional[HeadFactory] = None, num_classes: int = 10,
                input_channels: int = 3) -> TinyNetwork:
        return TinyNetwork(self.load(arch), C=self.channels, N=self.layers, num_classes=num_classes,
                           input_channels=input_channels, head=head, speedups=self.speedups)

    def supernet(self, head: Optional[HeadFactory] = None, num_classes: int = 10,
                 input_channels: int = 3) -> NB201Supernet:
        return NB201Supernet(C=self.channels, N=self.layers, num_classes=num_classes, input_channels=input_channels,
                             head=head, speedups=self.speedups)

    # ------------------------------------------------------------------------------------------ the rest
    def draw(self, arch: Any, out: Optional[str] = None, title: Optional[str] = None):
        from unnas.spaces.nb201.draw import draw_cell

        return draw_cell(self.load(arch), out, title)

    def _table(self, dataset: Optional[str] = None):
        from unnas.spaces.nb201.benchmark import NB201Table

        return NB201Table(dataset or "cifar10")

    def ground_truth(self, dataset: Optional[str] = None, path: Optional[str] = None,
                     metric: Optional[str] = None) -> Optional[GroundTruth]:
        """The embedded NASLib table (default), a table in the same format at *path* (``.json``), or the official
        NAS-Bench-201 / NATS-Bench file at *path* read through its API package (``pip install unnas[nb201]``)."""
        from unnas.spaces.nb201.benchmark import NB201API, NB201Table

        if path is None or str(path).lower().endswith(".json"):
            return NB201Table(dataset or "cifar10", path=path, metric=metric or "val_accuracy")
        return NB201API(path, dataset=dataset or "cifar10", metric=metric or "test")

    def shape(self) -> Dict[str, Any]:
        return {"channels": self.channels, "layers": self.layers}


__all__ = ["NB201Space", "NAMED_CELLS", "cell_name"]
