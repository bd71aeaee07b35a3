"""Properties of RLNAS's weight angle (unnas.weight_angle)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from unnas.weight_angle import weight_angle

SHAPES = [(3, 2, 2), (5,), (4, 1)]


@st.composite
def weights(draw):
    """A list of tensors of SHAPES with a nonzero concatenation, from a drawn seed."""
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    w = [torch.randn(s, generator=g, dtype=torch.float64) for s in SHAPES]
    w[0][0, 0, 0] += 1.0 if float(sum(t.abs().sum() for t in w)) == 0 else 0.0
    return w


@settings(max_examples=50, deadline=None)
@given(weights())
def test_angle_with_itself_is_zero(w):
    assert weight_angle(w, [t.clone() for t in w]) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(weights())
def test_angle_with_its_negation_is_pi(w):
    assert weight_angle(w, [-t for t in w]) == pytest.approx(math.pi, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(weights(), weights())
def test_angle_with_an_orthogonal_vector_is_a_right_angle(w, other):
    flat, o = torch.cat([t.reshape(-1) for t in w]), torch.cat([t.reshape(-1) for t in other])
    ortho = o - (o @ flat) / (flat @ flat) * flat  # Gram-Schmidt
    if float(ortho.norm()) < 1e-6:
        return
    parts, i = [], 0
    for t in w:
        parts.append(ortho[i:i + t.numel()].reshape(t.shape))
        i += t.numel()
    assert weight_angle(w, parts) == pytest.approx(math.pi / 2, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(weights(), weights(), st.floats(1e-3, 1e3), st.floats(1e-3, 1e3))
def test_angle_is_invariant_to_positive_scaling_and_symmetric(a, b, sa, sb):
    theta = weight_angle(a, b)
    assert 0.0 <= theta <= math.pi
    assert weight_angle([sa * t for t in a], [sb * t for t in b]) == pytest.approx(theta, abs=1e-9)
    assert weight_angle(b, a) == pytest.approx(theta, abs=1e-12)


def test_angle_matches_the_arccos_of_the_cosine_and_takes_float32():
    a, b = [torch.tensor([1.0, 0.0]), torch.tensor([0.0])], [torch.tensor([1.0, 1.0]), torch.tensor([0.0])]
    assert weight_angle(a, b) == pytest.approx(math.pi / 4, abs=1e-12)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, generator=g), torch.randn(50, generator=g)
    expect = math.acos(float(torch.nn.functional.cosine_similarity(x.double(), y.double(), dim=0)))
    assert weight_angle([x], [y]) == pytest.approx(expect, abs=1e-9)


def test_mismatched_or_directionless_weights_are_refused():
    with pytest.raises(ValueError, match="length"):
        weight_angle([torch.ones(2)], [torch.ones(2), torch.ones(1)])
    with pytest.raises(ValueError, match="shape"):
        weight_angle([torch.ones(2)], [torch.ones(3)])
    with pytest.raises(ValueError, match="zero"):
        weight_angle([torch.zeros(2)], [torch.ones(2)])
    with pytest.raises(ValueError, match="empty"):
        weight_angle([], [])
