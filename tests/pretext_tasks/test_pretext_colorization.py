"""Colorization: L input, nearest-of-313 ab bin targets."""

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_lab

from pretext_tasks import Colorization
from pretext_tasks.colorization import PTS_IN_HULL, nearest_ab_bin, nearest_ab_bin_bruteforce

PTS = np.load(PTS_IN_HULL)


def brute_force(ab):
    """Reference nearest neighbour in float64; argmin returns the lowest index on ties."""
    ab = np.asarray(ab, dtype=np.float64).reshape(-1, 2)
    d = ((ab[:, None, :] - PTS[None].astype(np.float64)) ** 2).sum(-1)
    return d.argmin(1)


def test_bins_are_the_shipped_file():
    task = Colorization()
    assert task.bins.dtype == torch.int64
    assert np.array_equal(task.bins.numpy(), PTS)
    assert PTS.shape == (313, 2)
    assert task.num_classes == 313


def test_grey_is_the_zero_bin():
    task = Colorization()
    greys = torch.linspace(0, 1, 11).view(1, 1, 1, 11).expand(1, 3, 1, 11).contiguous()
    _, targets = task.prepare(greys, None, train=False)
    zero = int(np.flatnonzero((PTS == 0).all(1))[0])
    assert targets.eq(zero).all()


@pytest.mark.parametrize("rgb", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1),
                                 (0.5, 0.25, 0.1), (0.2, 0.6, 0.3)])
def test_known_colours(rgb):
    task = Colorization()
    img = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, 2, 2).contiguous()
    _, targets = task.prepare(img, None, train=False)
    ab = rgb_to_lab(img)[0, 1:, 0, 0].numpy()
    assert targets.eq(int(brute_force(ab)[0])).all()


def test_red_green_blue_bins():
    """Pure red / green / blue land in the bins nearest to their textbook Lab values."""
    task = Colorization()
    img = torch.eye(3).view(3, 3, 1, 1)
    _, targets = task.prepare(img, None, train=False)
    textbook = [(80.1, 67.2), (-86.2, 83.2), (79.2, -107.9)]
    assert targets.flatten().tolist() == brute_force(textbook).tolist()
    assert [tuple(PTS[i]) for i in targets.flatten().tolist()] == [(80, 70), (-90, 80), (80, -110)]


def test_nearest_bin_matches_brute_force_everywhere():
    task = Colorization()
    g = torch.Generator().manual_seed(0)
    random_ab = torch.rand(50_000, 2, generator=g) * 280 - 140        # includes out-of-gamut points
    ties = torch.tensor([[5.0, 5.0], [0.0, 5.0], [5.0, 0.0], [-5.0, -5.0], [45.0, -35.0], [15.0, 25.0],
                         [95.0, 5.0], [-95.0, 55.0], [200.0, 200.0], [-200.0, 0.0]])
    near_ties = ties + torch.tensor([[1e-4, -1e-4]])
    lattice = task.bins.float() + torch.rand(313, 2, generator=g) - 0.5
    ab = torch.cat([random_ab, ties, near_ties, lattice])
    ours = task.ab_to_bin(ab)
    assert ours.tolist() == brute_force(ab.double().numpy()).tolist()
    assert nearest_ab_bin_bruteforce(ab, task.bins, chunk=4096).tolist() == ours.tolist()


def test_ties_go_to_the_lowest_index():
    task = Colorization()
    zero = int(np.flatnonzero((PTS == 0).all(1))[0])
    right = int(np.flatnonzero((PTS == [0, 10]).all(1))[0])
    assert task.ab_to_bin(torch.tensor([[0.0, 5.0]])).item() == min(zero, right)


def test_nearest_bin_keeps_shape_and_works_on_image_batches():
    task = Colorization()
    ab = torch.rand(2, 5, 7, 2) * 100 - 50
    out = nearest_ab_bin(ab, task.bins, task.bin_table)
    assert out.shape == (2, 5, 7)
    assert out.flatten().tolist() == brute_force(ab.numpy()).tolist()


def test_inputs_and_targets_from_kornia_lab(images):
    task = Colorization()
    inputs, targets = task.prepare(images, None, train=False)
    lab = rgb_to_lab(images)
    mean_c = (125.3 + 123.0 + 113.9) / 3 / 255
    std_c = (63.0 + 62.1 + 66.7) / 3 / 255
    assert abs(mean_c - 0.4735) < 1e-4 and abs(std_c - 0.2507) < 1e-4
    assert inputs.shape == (6, 1, 32, 32) and targets.shape == (6, 32, 32)
    assert torch.allclose(inputs, (lab[:, :1] / 100 - mean_c) / std_c, atol=1e-5)
    expected = brute_force(lab[:, 1:].permute(0, 2, 3, 1).numpy()).reshape(6, 32, 32)
    assert np.array_equal(targets.numpy(), expected)


def test_imagenet_l_normalisation():
    task = Colorization(style="imagenet")
    assert abs(task.l_mean - 0.449) < 1e-9 and abs(task.l_std - 0.226) < 1e-9
    img = torch.full((1, 3, 4, 4), 1.0)
    inputs, _ = task.prepare(img, None, train=False)
    assert torch.allclose(inputs, torch.full_like(inputs, (1.0 - 0.449) / 0.226), atol=1e-4)


def test_training_flip_moves_input_and_targets_together():
    task = Colorization()
    images = torch.rand(32, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    plain = task.prepare(images, None, train=False)
    mirrored = task.prepare(images.flip(-1), None, train=False)
    inputs, targets = task.prepare(images, None, train=True, generator=torch.Generator().manual_seed(0))
    n_flipped = 0
    for i in range(32):
        same = torch.equal(inputs[i], plain[0][i]) and torch.equal(targets[i], plain[1][i])
        flipped = torch.equal(inputs[i], mirrored[0][i]) and torch.equal(targets[i], mirrored[1][i])
        assert same or flipped
        n_flipped += int(flipped)
    assert 4 < n_flipped < 28
