from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from unnas.spaces.darts.ops import PRIMITIVES
from unnas.spaces.darts.sample import sample_genotypes


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30))
def test_sampling_is_reproducible_and_prefix_stable(seed, n):
    a = sample_genotypes(n, seed)
    assert a == sample_genotypes(n, seed)
    assert sample_genotypes(n + 5, seed)[:n] == a
    assert len(set(a)) == n
    for g in a:
        for cell in (g.normal, g.reduce):
            assert len(cell) == 8
            for t, (op, j) in enumerate(cell):
                assert op in PRIMITIVES and 0 <= j < t // 2 + 2
        assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)


def test_different_seeds_differ():
    assert sample_genotypes(5, 0) != sample_genotypes(5, 1)


def test_distribution_is_uniform_over_ops_and_inputs():
    gs = sample_genotypes(2000, seed=3)
    ops = Counter(op for g in gs for op, _ in g.normal + g.reduce)
    total = sum(ops.values())
    assert set(ops) == set(PRIMITIVES)
    for count in ops.values():
        assert abs(count / total - 1 / 8) < 0.01
    # node 3 reads states 0..4 uniformly; both of a node's inputs may be the same state
    last = Counter(j for g in gs for _, j in g.normal[6:])
    assert all(abs(last[j] / 4000 - 0.2) < 0.03 for j in range(5))
    same = sum(g.normal[0][1] == g.normal[1][1] for g in gs) / len(gs)
    assert abs(same - 0.5) < 0.05
