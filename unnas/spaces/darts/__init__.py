"""The DARTS cell space: ops, genotypes and their registry, evaluation networks, the search supernet,
complexity counting, sampling and drawing."""

from unnas.spaces.complexity import count_macs, count_params
from unnas.spaces.darts.genotype import (
    Genotype,
    GenotypeError,
    format_genotype,
    get_genotype,
    load_genotype,
    make_genotype,
    parse_genotype,
    registered_names,
    save_genotype,
)
from pretext_tasks.heads import ClassifierHead, DenseHead, Head, HeadFactory, TileHead, classifier_head
from unnas.spaces.darts.networks import NetworkCIFAR, NetworkImageNet
from unnas.spaces.darts.ops import OPS, PRIMITIVES
from unnas.spaces.darts.sample import sample_genotypes
from unnas.spaces.speedups import Speedups
from unnas.spaces.darts.supernet import DartsSupernet, Supernet, derive_genotype

__all__ = [
    "Genotype", "GenotypeError", "format_genotype", "get_genotype", "load_genotype", "make_genotype",
    "parse_genotype", "registered_names", "save_genotype", "ClassifierHead", "DenseHead", "Head", "HeadFactory",
    "TileHead", "classifier_head", "NetworkCIFAR", "NetworkImageNet", "OPS", "PRIMITIVES", "sample_genotypes",
    "DartsSupernet", "Supernet", "derive_genotype", "count_macs", "count_params", "Speedups",
]
