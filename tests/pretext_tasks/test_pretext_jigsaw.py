"""Jigsaw: permutation sets, tile extraction and placement, repeatable evaluation."""

import itertools

import numpy as np
import pytest
import torch

from pretext_tasks import Jigsaw, hamming_permutations
from pretext_tasks.base import CIFAR_MEAN, CIFAR_STD
from pretext_tasks.jigsaw import SHIPPED_PERMUTATIONS, check_permutations


def pairwise_hamming(perms):
    d = (perms[:, None, :] != perms[None, :, :]).sum(-1)
    return d[~np.eye(len(perms), dtype=bool)]


def standardise(t):
    return (t - t.mean()) / t.std(correction=0)


def matching_offsets(tile, source, top, left, psz):
    """Offsets (dy, dx) inside the cell at (top, left) whose standardised crop equals *tile*."""
    t = tile.shape[-1]
    return [(dy, dx) for dy in range(psz - t + 1) for dx in range(psz - t + 1)
            if torch.allclose(standardise(source[:, top + dy:top + dy + t, left + dx:left + dx + t]), tile, atol=1e-4)]


def check_reassembly(task, images, inputs, targets, sources_fn):
    """Slot perm[p] holds a standardised tile of grid cell p of one of the candidate sources."""
    g = task.grid
    psz = images.shape[-1] // g
    used_offsets, used_sources = set(), []
    for b in range(images.shape[0]):
        perm = task.perms[targets[b]].tolist()
        matched = None
        for s, source in enumerate(sources_fn(b)):
            ok = True
            for p in range(g * g):
                found = matching_offsets(inputs[b, perm[p]], source, (p // g) * psz, (p % g) * psz, psz)
                if len(found) != 1:
                    ok = False
                    break
                used_offsets.add(found[0])
            if ok:
                matched = s
                break
        assert matched is not None, f"image {b}: tiles are not the cells of its source under the permutation"
        used_sources.append(matched)
    return used_offsets, used_sources


def normalized(x):
    return (x - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).view(1, 3, 1, 1)


def test_permutations_24_is_all_permutations_in_order():
    perms = np.load(SHIPPED_PERMUTATIONS[(2, 24)])
    assert perms.shape == (24, 4)
    assert np.array_equal(perms, np.array(list(itertools.permutations(range(4)))))
    assert torch.equal(Jigsaw().perms, torch.from_numpy(perms))


def test_shipped_hamming_files():
    p1000 = np.load(SHIPPED_PERMUTATIONS[(3, 1000)])
    p2000 = np.load(SHIPPED_PERMUTATIONS[(3, 2000)])
    check_permutations(p1000)
    check_permutations(p2000)
    assert p1000.shape == (1000, 9) and p2000.shape == (2000, 9)
    assert not (p1000 == np.arange(9)).all(1).any()
    assert (p2000[1] == np.arange(9)).all()
    assert pairwise_hamming(p1000).min() == 2
    assert torch.equal(Jigsaw(style="imagenet").perms, torch.from_numpy(p1000))
    assert Jigsaw(grid=3, num_permutations=2000).num_classes == 2000


@pytest.mark.parametrize("criterion", ["mean", "min"])
def test_hamming_generator_latin_square(criterion):
    """Up to T permutations of T tiles can all differ in every position; the greedy set finds them."""
    for tiles in (4, 9):
        perms = hamming_permutations(tiles, tiles, criterion=criterion)
        check_permutations(perms)
        assert pairwise_hamming(perms).min() == tiles


def test_hamming_generator_properties():
    p = hamming_permutations(9, 40, seed=0)
    check_permutations(p)
    assert p.shape == (40, 9) and p.dtype == np.int64
    assert np.array_equal(p, hamming_permutations(9, 40, seed=0))
    assert not np.array_equal(p, hamming_permutations(9, 40, seed=1))
    all24 = hamming_permutations(4, 24)
    assert sorted(map(tuple, all24)) == list(itertools.permutations(range(4)))
    maximin = hamming_permutations(9, 40, criterion="min")
    assert pairwise_hamming(maximin).min() >= 6
    assert pairwise_hamming(maximin).min() >= pairwise_hamming(p).min()
    big = hamming_permutations(16, 20)  # sampled candidate pool
    check_permutations(big)
    assert pairwise_hamming(big).min() >= 12
    with pytest.raises(ValueError, match="cannot choose"):
        hamming_permutations(3, 7)


@pytest.mark.slow
def test_hamming_generator_reproduces_official_statistics():
    """Noroozi & Favaro's greedy (mean criterion) gives the same min and mean distance as the UnNAS file."""
    ours = pairwise_hamming(hamming_permutations(9, 1000))
    official = pairwise_hamming(np.load(SHIPPED_PERMUTATIONS[(3, 1000)]))
    assert ours.min() == official.min() == 2
    assert abs(ours.mean() - official.mean()) < 0.01


def test_generated_set_used_for_other_configs(tmp_path):
    task = Jigsaw(grid=3, num_permutations=30)
    assert task.num_classes == 30 and task.perms.shape == (30, 9)
    assert np.array_equal(task.perms.numpy(), hamming_permutations(9, 30))
    path = tmp_path / "p.npy"
    np.save(path, np.array(list(itertools.permutations(range(4))))[::3])
    assert Jigsaw(permutations=str(path)).num_classes == 8
    with pytest.raises(ValueError, match="9"):
        Jigsaw(grid=3, permutations=str(path))
    with pytest.raises(ValueError, match="num_permutations"):
        Jigsaw(permutations=str(path), num_permutations=24)
    np.save(path, np.array([[0, 1, 2, 2]]))
    with pytest.raises(ValueError, match="permutation"):
        Jigsaw(permutations=str(path))


def test_tile_geometry():
    assert Jigsaw().tile_size(32) == 12
    assert Jigsaw(style="imagenet").tile_size(255) == 64
    assert Jigsaw(grid=3).input_shape(32) == (9, 3, 7, 7)


def test_eval_tiles_are_permuted_standardised_cells():
    task = Jigsaw()
    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    inputs, targets = task.prepare(images, None, train=False, generator=torch.Generator().manual_seed(1))
    assert inputs.shape == (12, 4, 3, 12, 12)
    src = normalized(images)
    offsets, _ = check_reassembly(task, images, inputs, targets, lambda b: [src[b]])
    assert len(offsets) > 5, "tile offsets should vary"
    flat = inputs.flatten(2)
    assert torch.allclose(flat.mean(-1), torch.zeros(12, 4), atol=1e-5)
    assert torch.allclose(flat.std(-1, correction=0), torch.ones(12, 4), atol=1e-4)


def test_slot_placement_with_known_tiles():
    """Cell p goes to slot perm[p] (not the inverse): cells of distinct constant colours."""
    task = Jigsaw(mean=[0, 0, 0], std=[1, 1, 1])
    colours = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 0]])
    img = torch.zeros(24, 3, 32, 32)
    for p in range(4):
        r, c = divmod(p, 2)
        img[:, :, 16 * r:16 * r + 16, 16 * c:16 * c + 16] = colours[p].view(1, 3, 1, 1)
    inputs, targets = task.prepare(img, None, train=False, generator=torch.Generator().manual_seed(0))
    assert len(set(targets.tolist())) > 10
    for b in range(24):
        perm = task.perms[targets[b]].tolist()
        for p in range(4):
            expected = standardise(colours[p].view(3, 1, 1).expand(3, 12, 12))
            assert torch.allclose(inputs[b, perm[p]], expected, atol=1e-5)


def test_train_flip_and_gray():
    images = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ident = dict(mean=[0, 0, 0], std=[1, 1, 1])
    task = Jigsaw(gray_prob=0.0, **ident)
    inputs, targets = task.prepare(images, None, train=True, generator=torch.Generator().manual_seed(2))
    _, sources = check_reassembly(task, images, inputs, targets, lambda b: [images[b], images[b].flip(-1)])
    assert 0 < sum(sources) < 16, "about half of the images should be flipped"
    assert (inputs[:, :, 0] != inputs[:, :, 1]).any()
    gray_task = Jigsaw(gray_prob=1.0, **ident)
    gray = gray_task.prepare(images, None, train=True, generator=torch.Generator().manual_seed(2))[0]
    assert torch.allclose(gray[:, :, 0], gray[:, :, 1]) and torch.allclose(gray[:, :, 1], gray[:, :, 2])
    weights = torch.tensor([0.2125, 0.7154, 0.0721]).view(1, 3, 1, 1)
    gray_images = (images * weights).sum(1, keepdim=True).expand(-1, 3, -1, -1)
    check_reassembly(task, images, gray, targets, lambda b: [gray_images[b], gray_images[b].flip(-1)])
    # no gray and no flip at evaluation
    evaluated = Jigsaw(gray_prob=1.0, **ident).prepare(images, None, train=False)
    assert (evaluated[0][:, :, 0] != evaluated[0][:, :, 1]).any()


def test_gray_probability():
    images = torch.rand(400, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    task = Jigsaw(mean=[0, 0, 0], std=[1, 1, 1])
    inputs, _ = task.prepare(images, None, train=True, generator=torch.Generator().manual_seed(0))
    is_gray = torch.isclose(inputs[:, :, 0], inputs[:, :, 1]).flatten(1).all(1)
    assert 0.22 < is_gray.float().mean() < 0.38


def test_evaluation_is_repeatable():
    task = Jigsaw()
    images = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a = task.prepare(images, None, train=False, generator=torch.Generator().manual_seed(5))
    b = task.prepare(images, None, train=False, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    c = task.prepare(images, None, train=False, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(a[1], c[1])
    # without a generator, evaluation uses eval_seed, regardless of the global RNG
    torch.manual_seed(1)
    d = task.prepare(images, None, train=False)
    torch.manual_seed(2)
    e = task.prepare(images, None, train=False)
    assert torch.equal(d[0], e[0]) and torch.equal(d[1], e[1])
    f = task.prepare(images, None, train=False, generator=task.eval_generator())
    assert torch.equal(d[1], f[1])
    other = Jigsaw(eval_seed=9).prepare(images, None, train=False)
    assert not torch.equal(d[1], other[1])


def test_targets_cover_all_permutations():
    task = Jigsaw()
    _, targets = task.prepare(torch.rand(960, 3, 8, 8), None, train=True, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(targets, minlength=24)
    assert counts.min() > 15 and counts.max() < 70


def test_imagenet_jigsaw():
    task = Jigsaw(style="imagenet")
    images = torch.rand(2, 3, 255, 255, generator=torch.Generator().manual_seed(0))
    inputs, targets = task.prepare(images, None, train=True, generator=torch.Generator().manual_seed(0))
    assert inputs.shape == (2, 9, 3, 64, 64) and int(targets.max()) < 1000
    inputs, targets = task.prepare(images, None, train=False)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    src = (images - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    check_reassembly(task, images, inputs, targets, lambda b: [src[b]])


def test_rejects_non_square_and_too_small():
    with pytest.raises(ValueError, match="square"):
        Jigsaw().prepare(torch.rand(2, 3, 32, 30), None, train=False)
    with pytest.raises(ValueError, match="too small"):
        Jigsaw(grid=3).prepare(torch.rand(2, 3, 2, 2), None, train=False)
