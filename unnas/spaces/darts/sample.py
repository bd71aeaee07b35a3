"""Reproducible random architectures from the DARTS cell space.

Distribution: for the normal and the reduction cell independently, each of the ``steps`` intermediate
nodes draws its 2 inputs uniformly and independently (with replacement, so both may be the same state)
from the states before it (``0 .. i+1`` for node ``i``), and one op per input uniformly from *ops*
(DARTS's 8 PRIMITIVES, ``none`` included). Concat is every intermediate node. This matches the shape of
UnNAS's 500 sampled architectures (which also repeat inputs and use ``none``); the paper's own sampler
is not published, and its op frequencies are not uniform.
"""

from __future__ import annotations

from typing import List, Sequence

import numpy as np

from unnas.spaces.darts.genotype import Genotype, make_genotype
from unnas.spaces.darts.ops import PRIMITIVES


def sample_cell(rng: np.random.Generator, steps: int = 4, ops: Sequence[str] = PRIMITIVES):
    """One random cell as a list of ``(op, input)`` pairs."""
    edges = []
    for i in range(steps):
        for _ in range(2):
            j = int(rng.integers(0, i + 2))
            edges.append((ops[int(rng.integers(0, len(ops)))], j))
    return edges


def sample_genotype(rng: np.random.Generator, steps: int = 4, ops: Sequence[str] = PRIMITIVES) -> Genotype:
    """One random genotype drawn with *rng* (see the module docstring for the distribution)."""
    concat = list(range(2, steps + 2))
    normal = sample_cell(rng, steps, ops)
    reduce = sample_cell(rng, steps, ops)
    return make_genotype(normal, concat, reduce, concat)


def sample_genotypes(n: int, seed: int = 0, steps: int = 4, ops: Sequence[str] = PRIMITIVES,
                     unique: bool = True) -> List[Genotype]:
    """*n* genotypes from ``numpy.random.default_rng(seed)``; with *unique*, repeats are redrawn.

    The result depends only on the arguments, and the first ``k`` of ``n`` equal the result for ``k``.
    """
    if n < 0:
        raise ValueError(f"cannot sample {n} architectures; n must be >= 0")
    rng = np.random.default_rng(seed)
    out: List[Genotype] = []
    seen = set()
    while len(out) < n:
        g = sample_genotype(rng, steps, ops)
        if unique and g in seen:
            continue
        seen.add(g)
        out.append(g)
    return out
