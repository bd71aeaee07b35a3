"""Contrastive (SimCLR NT-Xent): views, loss, retrieval accuracy, head and network."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

import pretext_tasks
from pretext_tasks import Contrastive, PretextTask
from pretext_tasks.contrastive import nt_xent, partner_targets
from unnas.spaces.darts import NetworkCIFAR


def _images(n, side=32, seed=0):
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(seed))


def test_nt_xent_single_pair_is_zero():
    # one image: each view's only candidate is its partner
    z = torch.tensor([[1.0, 2.0], [-3.0, 0.5]])
    assert nt_xent(z, partner_targets(2), 0.5).item() == pytest.approx(0.0, abs=1e-7)


def test_nt_xent_matches_hand_computation():
    # views (rows 0,1) and (2,3) are partners; unit vectors at 0, 45, 90 and 180 degrees; T = 0.5
    r = 1 / math.sqrt(2)
    z = torch.tensor([[1.0, 0.0], [2 * r, 2 * r], [0.0, 3.0], [-1.0, 0.0]])  # lengths do not matter
    cos = {(0, 1): r, (0, 2): 0.0, (0, 3): -1.0, (1, 2): r, (1, 3): -r, (2, 3): 0.0}
    s = lambda i, j: cos[(min(i, j), max(i, j))] / 0.5
    partner = [1, 0, 3, 2]
    per_view = [-s(i, partner[i]) + math.log(sum(math.exp(s(i, j)) for j in range(4) if j != i)) for i in range(4)]
    expected = sum(per_view) / 4
    assert nt_xent(z, partner_targets(4), 0.5).item() == pytest.approx(expected, rel=1e-6)
    assert Contrastive(temperature=0.5).loss(z, partner_targets(4)).item() == pytest.approx(expected, rel=1e-6)


def test_perfect_embedding_retrieves_every_partner():
    task = Contrastive(temperature=0.5, projection_dim=4)
    z = torch.eye(4).repeat_interleave(2, dim=0) * 3.0  # partners identical, other pairs orthogonal
    y = partner_targets(8)
    correct, counted = task.accuracy(z, y)
    assert correct.item() == 8 and counted == 8
    loss = task.loss(z, y).item()
    assert loss == pytest.approx(math.log(1 + 6 * math.exp(-1 / 0.5)), rel=1e-6)
    random = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    assert loss < task.loss(random, y).item()
    swapped = z[torch.tensor([0, 2, 1, 3, 4, 5, 6, 7])]  # rows 1 and 2 exchanged: 4 views lose their partner
    assert task.accuracy(swapped, y)[0].item() == 4


def test_views_are_seeded():
    task, x = Contrastive(), _images(4)
    a = task.prepare(x, None, train=True, generator=torch.Generator().manual_seed(1))[0]
    b = task.prepare(x, None, train=True, generator=torch.Generator().manual_seed(1))[0]
    c = task.prepare(x, None, train=True, generator=torch.Generator().manual_seed(2))[0]
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert not torch.allclose(a[0], a[1])  # the two views of an image differ
    e1 = task.prepare(x, None, train=False, generator=task.eval_generator())[0]
    e2 = task.prepare(x, None, train=False, generator=task.eval_generator())[0]
    e3 = Contrastive(seed=5).prepare(x, None, train=False, generator=Contrastive(seed=5).eval_generator())[0]
    assert torch.equal(e1, e2) and not torch.allclose(e1, e3)


def test_prepare_uses_only_the_given_generator_and_scales_uint8():
    task = Contrastive()
    raw = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    state = torch.get_rng_state()
    a = task.prepare(raw, None, train=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    b = task.prepare(raw.float() / 255, None, train=True, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("style,side", [("cifar", 32), ("imagenet", 64)])
def test_shapes(style, side):
    task = Contrastive(style=style, projection_dim=16)
    x, y = task.prepare(_images(3, side), torch.arange(3), train=True, generator=torch.Generator().manual_seed(0))
    assert x.shape == (6, 3, side, side) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert torch.equal(y, torch.tensor([1, 0, 3, 2, 5, 4]))
    assert tuple(x.shape[1:]) == task.input_shape(side)


@pytest.mark.parametrize("style", ["cifar", "imagenet"])
def test_sample_transform(style):
    task = Contrastive(style=style)
    pil = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    side = 32 if style == "cifar" else 224
    if style == "cifar":
        pil = pil.crop((0, 0, 32, 32))
    for train in (True, False):
        out = task.sample_transform(train)(pil)
        assert out.shape == (3, side, side) and 0 <= float(out.min()) and float(out.max()) <= 1


def test_head_network_loss_accuracy():
    task = Contrastive(projection_dim=8)
    net = NetworkCIFAR("darts_v2", C=4, layers=3, input_channels=3, head=task.head)
    assert task.head(16).num_classes == 8 and task.state_dict() == {}
    x, y = task.prepare(_images(3), None, train=True, generator=torch.Generator().manual_seed(0))
    emb, _ = net(x)
    assert emb.shape == (6, 8)
    loss = task.loss(emb, y)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    correct, counted = task.accuracy(emb.detach(), y)
    assert counted == 6 and 0 <= int(correct) <= 6


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="temperature"):
        Contrastive(temperature=0.0)
    with pytest.raises(ValueError, match="projection_dim"):
        Contrastive(projection_dim=0)
    with pytest.raises(ValueError, match="images"):
        Contrastive().prepare(torch.rand(6, 4, 32, 32), None, train=False)


def test_selected_by_class_path():
    from jsonargparse import ArgumentParser

    assert "Contrastive" in pretext_tasks.__all__
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--task", type=PretextTask)
    cfg = parser.parse_args(["--task=pretext_tasks.Contrastive", "--task.temperature=0.2", "--task.seed=3"])
    task = (getattr(parser, "instantiate", None) or parser.instantiate_classes)(cfg).task
    assert type(task) is Contrastive and task.temperature == 0.2 and task.eval_seed == 3
