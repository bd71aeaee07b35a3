"""The NAS-Bench-101 cell space behind the search-space seam (:class:`NB101Space`)."""

from __future__ import annotations

import functools
import os
from typing import Any, Dict, List, Literal, Mapping, Optional, Tuple

import numpy as np

from unnas.errors import ConfigError
from unnas.spaces.base import (ArchError, DatasetSpec, GroundTruth, HeadFactory, SearchSpace, check_positive,
                               json_for_recognition, read_json_file, register_space)
from unnas.spaces.nb101.cell import (NB101Cell, cell_from_dict, cell_hash, cell_to_dict, check_cell, format_cell,
                                     make_cell, parse_cell, sample_cells)
from unnas.spaces.nb101.networks import NB101Network
from unnas.spaces.speedups import Speedups

#: the paper's 500 cells: ``unnas_nb101/<id>`` (ids as the UnNAS config files, 6 digits)
UNNAS_PREFIX = "unnas_nb101/"
#: the distinct cells of the ground-truth table: ``nb101_table/<k>`` (3 digits, in the order the file lists them)
TABLE_PREFIX = "nb101_table/"
UNNAS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "unnas_nb101_archs.json")
#: (channels, cells per stack) of UnNAS's NAS-Bench-101 networks by stem (``NAS.WIDTH``, ``NAS.NUM_MODULES_PER_STACK``)
NETWORK_DEFAULTS: Dict[str, Tuple[int, int]] = {"cifar": (128, 3), "imagenet": (128, 4)}

_SETS_HELP = ("unnas_nb101 (the paper's 500), unnas_nb101:N (N of them, evenly spaced), unnas_nb101:N:SEED (N drawn "
              "at random), nb101-table[:N[:SEED]] (the 292 cells of NASLib's NAS-Bench-101 table), "
              "nb101-sample:N[:SEED] (random cells)")


@functools.lru_cache(maxsize=1)
def unnas_cells() -> Dict[str, NB101Cell]:
    """The paper's 500 cells by id (``"000907"`` ... ``"423150"``), in id order."""
    data = read_json_file(UNNAS_FILE)
    return {k: make_cell(v["matrix"], v["ops"]) for k, v in sorted(data.items())}


@functools.lru_cache(maxsize=1)
def _table_cells() -> Tuple[NB101Cell, ...]:
    from unnas.spaces.nb101.benchmark import NB101Table

    return tuple(NB101Table().archs())


class _Registry(Mapping):
    """``unnas_nb101/<id>`` for the paper's 500, then ``nb101_table/000`` ... for the table's cells."""

    def __getitem__(self, name: str) -> NB101Cell:
        if isinstance(name, str):
            if name.startswith(UNNAS_PREFIX) and name[len(UNNAS_PREFIX):] in unnas_cells():
                return unnas_cells()[name[len(UNNAS_PREFIX):]]
            rest = name[len(TABLE_PREFIX):]
            if name.startswith(TABLE_PREFIX) and len(rest) == 3 and rest.isdigit() and int(rest) < len(_table_cells()):
                return _table_cells()[int(rest)]
        raise KeyError(name)

    def __iter__(self):
        yield from (UNNAS_PREFIX + k for k in unnas_cells())
        yield from (f"{TABLE_PREFIX}{k:03d}" for k in range(len(_table_cells())))

    def __len__(self) -> int:
        return len(unnas_cells()) + len(_table_cells())

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True


@register_space
class NB101Space(SearchSpace):
    """The NAS-Bench-101 cell space (Ying et al., ICML 2019) with UnNAS's networks (Liu et al., ECCV 2020).

    Args:
        network: ``"cifar"`` (3x3 conv-bn-relu stem) or ``"imagenet"`` (three stride-2 3x3 conv-bn-relus).
        channels: the stem's and first stack's channels (default 128, as NAS-Bench-101 and UnNAS).
        layers: cells per stack (default 3 for ``cifar``, 4 for ``imagenet``, as UnNAS's configs).
        stacks: stacks of cells (3); each after the first halves the resolution and doubles the channels.
        speedups: exact performance switches; a switch left unset (null or "auto") is chosen by the device the
            network runs on (:meth:`speedups_for`).

    Architectures are :class:`~unnas.spaces.nb101.cell.NB101Cell` s (a pruned adjacency matrix and ops), written as
    JSON ``{"matrix": ..., "ops": ...}``. ``sample`` draws the NAS-Bench-101 paper's random specs
    (:func:`~unnas.spaces.nb101.cell.sample_cells`). There is no weight-sharing supernet: the space is for training
    and ranking architectures.
    """

    name = "nb101"
    summary = ("NAS-Bench-101 cells (<= 7 vertices, <= 9 edges, conv3x3/conv1x1/maxpool); JSON "
               '{"matrix": [[...]], "ops": ["input", ..., "output"]}')
    default_study_config = "configs/study/nb101_cifar10_cpu.yaml"
    arch_noun = "a NAS-Bench-101 cell"
    expects = ('JSON {"matrix": [[...]], "ops": ["input", ..., "output"]}, a NASLib key (a0, ..., a48, o0, ..., o6) '
               "or a registered name (unnas_nb101/<id>, nb101_table/<k>)")
    train_config = "configs/train/nb101_cifar10_cpu.yaml"
    searchable = False
    datasets = {
        "cifar10": DatasetSpec(10, 32, "cifar", {"network": "cifar"}),
        "imagenet": DatasetSpec(1000, 224, "imagenet", {"network": "imagenet"}),
    }

    def __init__(self, network: Literal["cifar", "imagenet"] = "cifar", channels: Optional[int] = None,
                 layers: Optional[int] = None, stacks: int = 3, speedups: Speedups = Speedups()):
        if network not in NETWORK_DEFAULTS:
            raise ConfigError(f"unknown NAS-Bench-101 network {network!r}; use 'cifar' or 'imagenet'")
        check_positive("NAS-Bench-101", stacks=stacks,
                       **{k: v for k, v in (("channels", channels), ("layers", layers)) if v is not None})
        if network == "imagenet" and channels is not None and channels < 2:
            raise ConfigError(f"the NAS-Bench-101 ImageNet stem needs channels >= 2 (its first conv has channels // 2), "
                              f"got {channels}")
        self.network_kind, self.channels, self.layers, self.stacks = network, channels, layers, stacks
        self.speedups = speedups

    # ------------------------------------------------------------------------------------------ notation
    def parse(self, text: str) -> NB101Cell:
        t = text.strip() if isinstance(text, str) else text
        if isinstance(t, str) and (t.startswith(UNNAS_PREFIX) or t.startswith(TABLE_PREFIX)):
            if t in self.registry():
                return self.registry()[t]
            raise ArchError(f"unknown NAS-Bench-101 name {t[:40]!r}: the paper's cells are unnas_nb101/<6-digit id> "
                            f"and the table's nb101_table/000 to nb101_table/{len(_table_cells()) - 1:03d} "
                            f"(unnas arch list --space nb101 --all)")
        return parse_cell(text)

    def format(self, arch: Any) -> str:
        return format_cell(arch)

    def to_dict(self, arch: Any) -> Dict[str, Any]:
        return cell_to_dict(arch)

    def from_dict(self, obj: Any) -> NB101Cell:
        return cell_from_dict(obj)

    def arch_features(self, arch: Any) -> np.ndarray:
        """The adjacency matrix padded to 7 vertices (the output vertex always last; upper triangle, row by row),
        then a one-hot op per inner vertex slot (all zero for a padded slot)."""
        from unnas.spaces.nb101.cell import MAX_VERTICES, OPS

        d = self.to_dict(arch)
        n, V = len(d["ops"]), MAX_VERTICES
        slot = [i if i < n - 1 else V - 1 for i in range(n)]
        adj = np.zeros((V, V), dtype=np.float32)
        for i, row in enumerate(d["matrix"]):
            for j, e in enumerate(row):
                adj[slot[i], slot[j]] = float(e)
        ops = np.zeros((V - 2, len(OPS)), dtype=np.float32)
        for i, op in enumerate(d["ops"][1:-1], 1):
            ops[slot[i] - 1, OPS.index(op)] = 1.0
        return np.concatenate([adj[np.triu_indices(V, 1)], ops.ravel()])

    @classmethod
    def is_arch(cls, obj: Any) -> bool:
        if not isinstance(obj, NB101Cell):
            return False
        try:
            check_cell(obj)
        except ArchError:
            return False
        return True

    @classmethod
    def recognises(cls, text: str) -> bool:
        t = text.strip() if isinstance(text, str) else ""
        if t.startswith(UNNAS_PREFIX) or t.startswith(TABLE_PREFIX):
            return True
        if t.startswith("{"):
            obj = json_for_recognition(t)
            return isinstance(obj, dict) and (obj.get("space") == "nb101" or
                                              ("space" not in obj and "matrix" in obj and "ops" in obj))
        if t.startswith("(") and t.endswith(")"):
            # NASLib's key: V*V matrix entries and V op codes, V = 3..7 (6 numbers are a NAS-Bench-201 tuple)
            items = [s.strip() for s in t[1:-1].split(",")]
            if items and not items[-1]:
                items.pop()
            return len(items) in {v * v + v for v in range(3, 8)} and all(s.isdigit() for s in items)
        return False

    # ------------------------------------------------------------------------------------------ registry
    def registry(self) -> Mapping[str, NB101Cell]:
        return _Registry()

    def describe(self, name: str) -> str:
        if name.startswith(UNNAS_PREFIX) and name in self.registry():
            return "a cell of UnNAS's sample-based study (configs/sample_based/nas_bench/*/*/<id>.yaml)"
        if name.startswith(TABLE_PREFIX) and name in self.registry():
            return "a cell of NASLib's NAS-Bench-101 table (ground truth: unnas bench query)"
        return ""

    def listed_names(self) -> List[str]:
        return []

    def collapsed_names(self) -> List[Tuple[str, str]]:
        ids = list(unnas_cells())
        return [(UNNAS_PREFIX + "<id>", f"the {len(ids)} cells of the UnNAS sample-based study ({ids[0]} ... "
                                        f"{ids[-1]}); --all lists them"),
                (TABLE_PREFIX + "<k>", f"the {len(_table_cells())} cells of NASLib's NAS-Bench-101 table (000 ... "
                                       f"{len(_table_cells()) - 1:03d}); --all lists them")]

    def sample(self, n: int, seed: int = 0) -> List[NB101Cell]:
        return sample_cells(n, seed)

    def arch_set(self, spec: str) -> Optional[List[Tuple[str, NB101Cell]]]:
        from unnas.spaces.sets import evenly_spaced, parse_count_seed

        for name, prefix, items in (("unnas_nb101", UNNAS_PREFIX, None), ("nb101-table", TABLE_PREFIX, None)):
            if spec != name and not spec.startswith(name + ":"):
                continue
            names = [n for n in self.registry() if n.startswith(prefix)]
            if spec != name:
                n, seed = parse_count_seed(spec)
                if n > len(names):
                    raise ArchError(f"{spec!r} asks for {n} cells but {name} holds {len(names)}")
                if seed is None:
                    names = evenly_spaced(names, n)
                else:
                    names = [names[int(i)] for i in np.random.default_rng(seed).permutation(len(names))[:n]]
            return [(n, self.registry()[n]) for n in names]
        if spec.startswith("nb101-sample:"):
            n, seed = parse_count_seed(spec)
            seed = 0 if seed is None else seed
            return [(f"nb101-s{seed}-{i:05d}", c) for i, c in enumerate(sample_cells(n, seed))]
        return None

    def arch_set_help(self) -> str:
        return _SETS_HELP

    # ------------------------------------------------------------------------------------------ networks
    def _shape(self) -> Tuple[int, int]:
        channels, layers = NETWORK_DEFAULTS[self.network_kind]
        return self.channels or channels, self.layers or layers

    def network(self, arch: Any, head: Optional[HeadFactory] = None, num_classes: int = 10,
                input_channels: int = 3) -> NB101Network:
        channels, layers = self._shape()
        return NB101Network(self.load(arch), stem=self.network_kind, channels=channels, stacks=self.stacks,
                            modules=layers, num_classes=num_classes, input_channels=input_channels, head=head,
                            speedups=self.speedups)

    def supernet(self, head: Optional[HeadFactory] = None, num_classes: int = 10, input_channels: int = 3):
        raise ConfigError("the nb101 space has no weight-sharing supernet: it is for training and ranking "
                          "architectures (unnas study), not for DARTS search; search in the darts or nb201 space")

    # ------------------------------------------------------------------------------------------ the rest
    def draw(self, arch: Any, out: Optional[str] = None, title: Optional[str] = None):
        from unnas.spaces.nb101.draw import draw_cell

        return draw_cell(self.load(arch), out, title)

    def ground_truth(self, dataset: Optional[str] = None, path: Optional[str] = None,
                     metric: Optional[str] = None) -> Optional[GroundTruth]:
        """NASLib's NAS-Bench-101 table (default) or a table in its format at *path*; CIFAR-10 only."""
        from unnas.spaces.nb101.benchmark import NB101Table

        return NB101Table(dataset or "cifar10", path=path, metric=metric or "val_accuracy")

    def shape(self) -> Dict[str, Any]:
        channels, layers = self._shape()
        return {"network": self.network_kind, "channels": channels, "layers": layers, "stacks": self.stacks}


__all__ = ["NB101Space", "NETWORK_DEFAULTS", "unnas_cells", "cell_hash"]
