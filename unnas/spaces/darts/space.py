"""The DARTS cell space behind the search-space seam (:class:`DartsSpace`)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Literal, Mapping, Optional, Tuple

import numpy as np

from unnas.errors import ConfigError
from unnas.spaces.base import (ArchError, DatasetSpec, HeadFactory, SearchSpace, check_positive, json_for_recognition,
                               register_space)
from unnas.spaces.darts.genotype import (SAMPLED_PREFIX, Genotype, GenotypeError, describe, format_genotype,
                                         genotype_from_dict, get_genotype, load_genotype, parse_genotype,
                                         registered_names)
from unnas.spaces.darts.networks import NetworkCIFAR, NetworkImageNet, check_depth, check_imagenet_channels
from unnas.spaces.darts.supernet import DartsSupernet, check_multiplier
from unnas.spaces.speedups import Speedups

#: ``genotypes.Genotype(...)``: the printed form with the module in front
_QUALIFIED_GENOTYPE = re.compile(r"[A-Za-z_][\w.]*\.Genotype\s*\(")

#: shapes DARTS uses when none is given: evaluation networks (train.py / train_imagenet.py) and the supernet
NETWORK_DEFAULTS = {"cifar": (36, 20), "imagenet": (48, 14)}
SUPERNET_DEFAULTS = (16, 8)


@register_space
class DartsSpace(SearchSpace):
    """The DARTS cell space (Liu et al., ICLR 2019), as UnNAS searches and samples it.

    Args:
        network: ``"cifar"`` (DARTS's NetworkCIFAR: one 3x3 stem) or ``"imagenet"`` (NetworkImageNet: stride-8
            stems); for the supernet it picks the stem the same way (UnNAS searches ImageNet with DARTS's stems).
        channels / layers: initial channels C and number of cells; ``None`` takes DARTS's values (evaluation:
            CIFAR 36/20, ImageNet 48/14; supernet: 16/8).
        auxiliary: build DARTS's auxiliary head after the second reduction cell (evaluation networks).
        steps / multiplier / stem_multiplier: intermediate nodes per supernet cell, how many of the last nodes its
            output concatenates (``1 .. steps``), and the CIFAR stem's width in units of ``channels``.
        speedups: exact performance switches (``Speedups.off()`` is the plain formulation); a switch left unset
            (null or "auto") is chosen by the device the network runs on (:meth:`speedups_for`).

    Sizes are positive integers; ``layers`` is at least 3 (the cells at ``layers // 3`` and ``2 * layers // 3`` are
    reductions, and fewer cells leave no normal cell); the ImageNet network needs an even ``channels``. Anything else
    raises a one-line :class:`~unnas.errors.ConfigError`.
    """

    name = "darts"
    default_study_config = "configs/study/cifar10_cpu.yaml"
    summary = "DARTS cells (2 inputs, 4 nodes x 2 edges, 8 ops); genotypes as DARTS prints them"
    arch_noun = "a DARTS genotype"
    expects = ("a registered name (darts_v2, unnas500/<id>; unnas arch list --space darts), Genotype(normal=[...], "
               "normal_concat=..., reduce=[...], reduce_concat=...) or JSON with those four keys")
    train_config = "configs/train/cifar10_supervised_cpu.yaml"
    datasets = {
        "cifar10": DatasetSpec(10, 32, "cifar", {"network": "cifar"}),
        "cifar100": DatasetSpec(100, 32, "cifar", {"network": "cifar"}),
        "imagenet": DatasetSpec(1000, 224, "imagenet", {"network": "imagenet"}),
    }

    def __init__(self, network: Literal["cifar", "imagenet"] = "cifar", channels: Optional[int] = None,
                 layers: Optional[int] = None, auxiliary: bool = False, steps: int = 4, multiplier: int = 4,
                 stem_multiplier: int = 3, speedups: Speedups = Speedups()):
        if network not in NETWORK_DEFAULTS:
            raise ConfigError(f"unknown DARTS network {network!r}; use 'cifar' or 'imagenet'")
        check_positive("DARTS", steps=steps, multiplier=multiplier, stem_multiplier=stem_multiplier,
                       **{k: v for k, v in (("channels", channels), ("layers", layers)) if v is not None})
        if layers is not None:
            check_depth(layers)
        if channels is not None and network == "imagenet":
            check_imagenet_channels(channels)
        check_multiplier(steps, multiplier)
        self.network_kind = network
        self.channels, self.layers, self.auxiliary = channels, layers, auxiliary
        self.steps, self.multiplier, self.stem_multiplier = steps, multiplier, stem_multiplier
        self.speedups = speedups

    # notation
    def parse(self, text: str) -> Genotype:
        return parse_genotype(text)

    def format(self, arch: Genotype) -> str:
        return format_genotype(arch)

    def to_dict(self, arch: Genotype) -> Dict[str, Any]:
        return arch.to_dict()

    def from_dict(self, obj: Any) -> Genotype:
        if isinstance(obj, dict) and "genotype" in obj and isinstance(obj["genotype"], (dict, list)):
            obj = obj["genotype"]
        return genotype_from_dict(obj)

    def arch_features(self, arch: Genotype) -> np.ndarray:
        """Per cell (normal, reduce), per node k an ``(k + 2) x ops`` count matrix of its (input state, op) edges
        (the discrete form of DARTS's alpha rows, blind to the order of a node's two edges), then the concat as
        a multi-hot over the cell's states."""
        from unnas.spaces.darts.ops import OPS, PRIMITIVES

        ops = tuple(PRIMITIVES) + tuple(o for o in OPS if o not in PRIMITIVES)
        d, steps, parts = self.to_dict(arch), self.steps, []
        for cell in ("normal", "reduce"):
            edges = d[cell]
            if len(edges) != 2 * steps:
                raise ArchError(f"the {cell} cell has {len(edges) // 2} nodes; this DARTS space encodes {steps} "
                                "(its steps)")
            for k in range(steps):
                m = np.zeros((k + 2, len(ops)), dtype=np.float32)
                for op, j in edges[2 * k:2 * k + 2]:
                    m[j, ops.index(op)] += 1.0
                parts.append(m.ravel())
            concat = np.zeros(steps + 2, dtype=np.float32)
            concat[list(d[f"{cell}_concat"])] = 1.0
            parts.append(concat)
        return np.concatenate(parts)

    @classmethod
    def is_arch(cls, obj: Any) -> bool:
        return isinstance(obj, Genotype)

    @classmethod
    def recognises(cls, text: str) -> bool:
        t = text.strip()
        if t.startswith("Genotype") or _QUALIFIED_GENOTYPE.match(t):
            return True
        if t.startswith(("{", "[")):
            obj = json_for_recognition(t)
            if isinstance(obj, list):  # UnNAS's CUSTOM_GENOTYPE: [normal, normal_concat, reduce, reduce_concat]
                return len(obj) == 4
            if not isinstance(obj, dict):
                return False
            if "space" in obj:
                return obj["space"] == "darts"
            return "normal" in obj or "reduce" in obj or isinstance(obj.get("genotype"), (dict, list))
        return t.lower() in ("darts",) or t.lower() in set(registered_names())

    def load(self, spec: Any) -> Genotype:
        return load_genotype(spec)

    # registry
    def registry(self) -> Mapping[str, Genotype]:
        return {n: get_genotype(n) for n in registered_names()}

    def describe(self, name: str) -> str:
        return describe(name)

    def listed_names(self) -> List[str]:
        return registered_names(include_sampled=False)

    def collapsed_names(self) -> List[Tuple[str, str]]:
        ids = [n[len(SAMPLED_PREFIX):] for n in registered_names() if n.startswith(SAMPLED_PREFIX)]
        return [(SAMPLED_PREFIX + "<id>", f"{len(ids)} architectures of the UnNAS sample-based study "
                                          f"({ids[0]} ... {ids[-1]}); --all lists them")]

    def sample(self, n: int, seed: int = 0) -> List[Genotype]:
        from unnas.spaces.darts.sample import sample_genotypes

        return sample_genotypes(n, seed, steps=self.steps)

    def arch_set(self, spec: str) -> Optional[List[Tuple[str, Genotype]]]:
        from unnas.spaces.sets import evenly_spaced, parse_count_seed

        if spec == "unnas500" or spec.startswith("unnas500:"):
            names = [n for n in registered_names() if n.startswith(SAMPLED_PREFIX)]
            if ":" in spec:
                names = evenly_spaced(names, parse_count_seed(spec)[0])
            return [(n, get_genotype(n)) for n in names]
        if spec.startswith("sample:"):
            n, seed = parse_count_seed(spec)
            seed = 0 if seed is None else seed
            return [(f"s{seed}-{i:05d}", g) for i, g in enumerate(self.sample(n, seed))]
        return None

    def arch_set_help(self) -> str:
        return "unnas500 (the paper's 500), unnas500:N (N of them, evenly spaced), sample:N[:SEED]"

    # networks
    def _shape(self, defaults: Tuple[int, int]) -> Tuple[int, int]:
        return self.channels or defaults[0], self.layers or defaults[1]

    def network(self, arch: Any, head: Optional[HeadFactory] = None, num_classes: int = 10,
                input_channels: int = 3):
        C, layers = self._shape(NETWORK_DEFAULTS[self.network_kind])
        genotype = load_genotype(arch)
        if self.network_kind == "imagenet":
            return NetworkImageNet(genotype, C=C, num_classes=num_classes, layers=layers, auxiliary=self.auxiliary,
                                   input_channels=input_channels, head=head, speedups=self.speedups)
        return NetworkCIFAR(genotype, C=C, num_classes=num_classes, layers=layers, auxiliary=self.auxiliary,
                            input_channels=input_channels, head=head, stem_multiplier=self.stem_multiplier,
                            speedups=self.speedups)

    def supernet(self, head: Optional[HeadFactory] = None, num_classes: int = 10, input_channels: int = 3):
        C, layers = self._shape(SUPERNET_DEFAULTS)
        return DartsSupernet(C=C, num_classes=num_classes, layers=layers, steps=self.steps, multiplier=self.multiplier,
                              stem_multiplier=self.stem_multiplier, stem=self.network_kind,
                              input_channels=input_channels, head=head, speedups=self.speedups)

    def supports_drop_path(self) -> bool:
        return True

    def draw(self, arch: Any, out: Optional[str] = None, title: Optional[str] = None):
        from unnas.spaces.darts.draw import draw_genotype

        return draw_genotype(load_genotype(arch), out, title)

    def shape(self) -> Dict[str, Any]:
        C, layers = self._shape(NETWORK_DEFAULTS[self.network_kind])
        return {"network": self.network_kind, "channels": C, "layers": layers, "auxiliary": self.auxiliary}


__all__ = ["DartsSpace", "GenotypeError"]
