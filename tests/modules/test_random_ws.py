"""Random search with weight sharing: the sampled forward, uniform draws, scoring with the shared weights on held-out
batches, the best candidate as the result, no architecture step, resume, and the configs."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import seed_everything
from scipy import stats

from conftest import CrashAtSecondEpoch, RecordingDraws, strategy_overlay, one_config_error, fit_search
from pretext_tasks import Supervised
from unnas.data import Generated, ImageDataModule
from unnas.modules import WeightSharingSearch
from unnas.modules.strategies import RandomWS
from unnas.modules.strategies.base import genotype_at, hard_weights, one_hot
from unnas.spaces import DartsSpace, NB201Space
from unnas.spaces.nb201.cell import NB201Cell
from unnas.spaces.speedups import Speedups



class RecordingRandomWS(RecordingDraws, RandomWS):
    """RandomWS that keeps every draw of a forward pass: ``(key, sampled ops)``."""


def _supernet(space):
    torch.manual_seed(3)
    shape = (DartsSpace(channels=4, layers=3, speedups=Speedups.off()) if space == "darts"
             else NB201Space(channels=4, layers=1, speedups=Speedups.off()))
    return shape.supernet(num_classes=3).double()


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_the_sampled_forward_equals_the_supernet_at_the_one_hot_weights(space):
    net = _supernet(space)
    strategy = RecordingRandomWS()
    strategy.configure_supernet(net)
    net.set_op_weights(strategy.op_weights)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    torch.manual_seed(7)
    sampled = net(x)
    active = dict(strategy.draws)
    assert sorted(active) == sorted(strategy.shapes)
    dense = one_hot(active, strategy.shapes)
    net.set_op_weights(lambda alpha, key: dense[key])  # a plain tensor: every op runs, weighted 0 or 1
    assert torch.allclose(sampled, net(x), rtol=0, atol=1e-12)


def test_every_edge_draws_its_op_uniformly():
    """Chi-square against the uniform distribution, per edge, on 3000 seeded draws."""
    strategy = RandomWS()
    alpha = torch.randn(6, 5)
    torch.manual_seed(0)
    draws = np.array([strategy.op_weights(alpha, "cell").active for _ in range(3000)])
    for edge in range(6):
        counts = np.bincount(draws[:, edge], minlength=5)
        assert stats.chisquare(counts).pvalue > 1e-3, counts
    # independent edges: the pair (edge 0, edge 1) is uniform over the 25 combinations too
    assert stats.chisquare(np.bincount(draws[:, 0] * 5 + draws[:, 1], minlength=25)).pvalue > 1e-3
    weights = strategy.op_weights(alpha, "cell")
    assert torch.equal(weights.weights, F.one_hot(torch.tensor(weights.active), 5).float())
    torch.manual_seed(0)
    assert strategy.op_weights(alpha, "cell").active == tuple(draws[0])


def test_derive_returns_the_candidate_with_the_highest_score():
    net = _supernet("nb201")
    strategy = RandomWS(num_candidates=7)
    strategy.configure_supernet(net)
    given = [0.1, 0.5, 0.2, 0.5, 0.0, 0.3, 0.4]  # a tie: the first best wins
    seen = []

    def evaluate(samples):
        seen.extend(samples)
        return given

    before = net.alphas.detach().clone()
    torch.manual_seed(1)
    strategy.on_epoch_end(0, 1, evaluate)
    assert len(seen) == 7 and strategy.candidates == seen and strategy.scores == given
    assert strategy.best == seen[1]
    ops = net.primitives
    assert strategy.derive(net) == NB201Cell(*(ops[k] for k in seen[1]["cell"]))
    assert torch.equal(net.alphas, before)  # the derivation leaves the alphas as they were
    state = json.loads(json.dumps(strategy.state_dict()))
    assert state["best_score"] == 0.5 and state["scores"] == given and state["best"] == {"cell": list(seen[1]["cell"])}
    other = RandomWS(num_candidates=7)
    other.configure_supernet(net)
    other.load_state_dict(state)
    assert other.derive(net) == strategy.derive(net) and other.candidates == seen


def test_derive_in_the_darts_space_keeps_the_first_two_inputs_without_none():
    net = _supernet("darts")
    prims = list(net.primitives)
    sample = {"normal": (prims.index("none"),) + (prims.index("sep_conv_3x3"),) * 13,
              "reduce": (prims.index("max_pool_3x3"),) * 14}
    g = genotype_at(net, one_hot(sample, {k: tuple(w.shape) for k, w in net.arch_weights().items()}))
    # node 0 has one input without `none`; DARTS's rule still keeps two, the second with the first non-none op
    assert [tuple(e) for e in g.normal[:4]] == [("sep_conv_3x3", 1), ("max_pool_3x3", 0), ("sep_conv_3x3", 0),
                                                ("sep_conv_3x3", 1)]
    assert [tuple(e) for e in g.reduce] == [("max_pool_3x3", j) for j in (0, 1) * 4]


def _search(strategy, **kw):
    return WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=2, layers=1), search_strategy=strategy, **kw)


def _data():
    return ImageDataModule(Generated(train_size=32, test_size=8, size=8), batch_size=8, train_portion=0.5)


def test_evaluate_scores_each_sample_on_the_held_out_batches_with_batch_statistics():
    """The module's scores are the accuracies of the supernet at each sample's one-hot weights, in eval mode with
    the BNs on batch statistics, on the same prepared batches; modes, buffers and op weights are restored."""
    torch.manual_seed(0)
    model = _search(RandomWS())
    net = model.supernet
    images, labels = torch.rand(64, 3, 8, 8), torch.randint(0, 4, (64,))
    model._held_out = [(images, labels)]
    samples = [{"cell": (0, 1, 2, 3, 4, 1)}, {"cell": (3, 3, 3, 3, 3, 3)}, {"cell": (2, 4, 1, 4, 2, 0)},
               {"cell": (4, 3, 2, 1, 3, 3)}]
    with torch.no_grad():  # running statistics far from the batch's: scores that used them would differ
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.fill_(50.0)
    buffers = {n: b.clone() for n, b in net.named_buffers()}
    net.train()
    scores = model.evaluate_samples(samples)
    assert net.training and net._op_weights_rule == model.search_strategy.op_weights
    assert all(torch.equal(b, buffers[n]) for n, b in net.named_buffers())
    x, y = model.objective.prepare(images, labels, train=False, generator=model.objective.eval_generator())
    expected = []
    for s in samples:
        fresh = _search(RandomWS())
        fresh.load_state_dict(model.state_dict())
        fresh.supernet.eval()
        for m in fresh.supernet.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.track_running_stats, m.running_mean, m.running_var = False, None, None
        fresh.supernet.set_op_weights(lambda alpha, key, s=s: F.one_hot(torch.tensor(s[key]), 5).float())
        with torch.no_grad():
            correct, count = model.objective.accuracy(fresh.supernet(x), y)
        expected.append(float(correct) / count)
    assert scores == pytest.approx(expected, abs=1e-12)
    assert hard_weights(torch.zeros(6, 5), (1,) * 6).active == (1,) * 6


def _fit(root, strategy, epochs=2, callbacks=(), ckpt=None):
    return fit_search(root, _search(strategy, arch_lr=0.5), epochs, callbacks, ckpt)


def test_a_search_has_no_architecture_step_and_records_the_candidates(tmp_path, capsys):
    seed_everything(0)
    model = _fit(tmp_path, RecordingRandomWS(num_candidates=4), epochs=1)
    assert "RandomWS has no architecture step" in capsys.readouterr().out
    assert all(a.grad is None for a in model.supernet.arch_parameters())
    (entry,) = model.alpha_history
    assert len(entry["strategy"]["scores"]) == 4 and len(entry["strategy"]["candidates"]) == 4
    best = entry["strategy"]["candidates"][int(np.argmax(entry["strategy"]["scores"]))]["cell"]
    assert model.space.from_dict(entry["genotype"]) == NB201Cell(*(model.supernet.primitives[k] for k in best))
    with open(tmp_path / "alphas.json") as f:
        assert json.load(f)["epochs"][0]["strategy"] == json.loads(json.dumps(entry["strategy"]))
    # two weight steps and one held-out batch for validation draw, and nothing else
    assert len(model.search_strategy.draws) == 3


def test_the_candidates_are_recorded_sized_and_their_pareto_front_written(tmp_path):
    from unnas.pareto import pareto_front
    from unnas.spaces.complexity import count_macs, count_params

    seed_everything(0)
    model = _fit(tmp_path, RandomWS(num_candidates=6), epochs=1)
    (entry,) = model.alpha_history
    cells = entry["cells"]
    state = entry["strategy"]
    assert [c["score"] for c in cells] == state["scores"]
    for cell, candidate in zip(cells, state["candidates"]):
        genotype = model.space.from_dict(cell["genotype"])
        assert genotype == NB201Cell(*(model.supernet.primitives[k] for k in candidate["cell"]))
        net = model.space.network(genotype, head=model.objective.head, input_channels=3)
        assert cell["macs"] == count_macs(net, (3, 8, 8)) and cell["params"] == count_params(net)
        assert "true_acc" in cell  # the space's table: known or None
    with open(tmp_path / "front.json") as f:
        front = json.load(f)
    on = pareto_front([(c["macs"], c["score"]) for c in cells])
    expected = sorted((c for c, keep in zip(cells, on) if keep), key=lambda c: c["macs"])
    assert front["cells"] == 6 and front["front"] == json.loads(json.dumps(expected))
    assert (tmp_path / "pareto.png").stat().st_size > 0


def test_a_resumed_search_draws_and_selects_what_the_uninterrupted_one_did(tmp_path):
    seed_everything(0)
    full = _fit(tmp_path / "full", RecordingRandomWS(num_candidates=5), epochs=2)
    seed_everything(0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(tmp_path / "part", RecordingRandomWS(num_candidates=5), epochs=2, callbacks=[CrashAtSecondEpoch()])
    seed_everything(123)  # a different process state: everything must come from the checkpoint
    resumed = _fit(tmp_path / "part", RecordingRandomWS(num_candidates=5), epochs=2,
                   ckpt=str(tmp_path / "part" / "ckpt" / "last.ckpt"))
    assert resumed.search_strategy.draws == full.search_strategy.draws[-len(resumed.search_strategy.draws):]
    assert len(resumed.search_strategy.draws) == 3
    assert resumed.alpha_history == full.alpha_history
    for a, b in zip(resumed.supernet.parameters(), full.supernet.parameters()):
        assert torch.equal(a, b)
    assert resumed.genotype() == full.genotype()


@pytest.mark.parametrize("make, message", [
    (lambda: RandomWS(num_candidates=0), "RandomWS search_strategy.init_args.num_candidates=0: must be a positive integer; "
                                         "set model.init_args.search_strategy.init_args.num_candidates, e.g. 100"),
    (lambda: RandomWS(eval_batches=1.5), "RandomWS search_strategy.init_args.eval_batches=1.5: must be a positive integer; "
                                         "set model.init_args.search_strategy.init_args.eval_batches, e.g. 1"),
])
def test_impossible_settings_are_one_config_error_line(make, message):
    assert one_config_error(make) == message


@pytest.mark.parametrize("base, config", [("nb201_cifar10_cpu", "rsws"),
                                          ("cifar10_rotation_cpu", "rsws")])
def test_the_configs_are_their_darts_recipe_with_one_strategy_line(base, config, monkeypatch):
    cli = strategy_overlay(base, config, {"class_path": "unnas.modules.strategies.RandomWS"}, monkeypatch)
    strategy = cli.model.search_strategy
    assert type(strategy) is RandomWS and (strategy.num_candidates, strategy.eval_batches) == (100, 1)
    assert cli.model.supernet._op_weights_rule == strategy.op_weights