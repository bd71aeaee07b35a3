"""DDPNAS: the update rule on a hand-computed case, the pruning schedule, pruned ops never drawn again, rounds that
score every remaining op once, derivation from the distribution, resume, and the config."""

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lightning.pytorch import seed_everything
from scipy import stats

from conftest import CrashAtSecondEpoch, RecordingDraws, strategy_overlay, one_config_error, fit_search
from pretext_tasks import Supervised
from unnas.modules import WeightSharingSearch
from unnas.modules.strategies import DDPNAS
from unnas.modules.strategies.ddpnas import probabilities, prune_weakest, round_scores, update_theta
from unnas.spaces import NB201Space
from unnas.spaces.nb201.cell import NB201Cell



class RecordingDDPNAS(RecordingDraws, DDPNAS):
    """DDPNAS that keeps every draw of a forward pass: ``(key, sampled ops)``."""


def _supernet():
    torch.manual_seed(3)
    return NB201Space(channels=2, layers=1).supernet(num_classes=3)


def test_the_update_rule_on_a_hand_computed_case():
    """Edge 0 has ops 0, 1 left (op 2 pruned), edge 1 all three. Two rounds, temperature 4, decay 0.5."""
    remaining = np.array([[True, True, False], [True, True, True]])
    r1 = round_scores(np.array([[0.5, 0.25, 0.9], [0.0, 0.25, 0.25]]), remaining, 4.0)
    e = math.e
    assert r1 == pytest.approx(np.array([[e / (e + 1), 1 / (e + 1), 0.0], [1 / (1 + 2 * e), e / (1 + 2 * e), e / (1 + 2 * e)]]))
    r2 = round_scores(np.array([[0.25, 0.5, 0.0], [0.5, 0.0, 0.25]]), remaining, 4.0)
    theta = np.array([[0.4, 0.35, 0.25], [0.2, 0.5, 0.3]])
    new = update_theta(theta, [r1, r2], 0.5)
    expected = np.array([
        [(e / (e + 1) + 1 / (e + 1)) / 2 + 0.2, (1 / (e + 1) + e / (e + 1)) / 2 + 0.175, 0.125],
        [(1 / (1 + 2 * e) + e**2 / (e**2 + 1 + e)) / 2 + 0.1,
         (e / (1 + 2 * e) + 1 / (e**2 + 1 + e)) / 2 + 0.25,
         (e / (1 + 2 * e) + e / (e**2 + 1 + e)) / 2 + 0.15]])
    assert new == pytest.approx(expected, abs=1e-12)
    # edge 0: op 2 is already pruned, so the lower of ops 0 (0.7) and 1 (0.675) goes; edge 1: op 2 (lowest theta)
    pruned = prune_weakest(new, remaining)
    assert pruned.tolist() == [[True, False, False], [True, True, False]]
    assert prune_weakest(new, pruned).tolist() == [[True, False, False], [True, False, False]]
    assert prune_weakest(new, [[True, False, False], [True, False, False]]).tolist() == [[True, False, False]] * 2
    assert probabilities(new, pruned)[0].tolist() == [1.0, 0.0, 0.0]
    assert probabilities(new, pruned)[1] == pytest.approx([new[1, 0] / new[1, :2].sum(), new[1, 1] / new[1, :2].sum(), 0])


@settings(max_examples=40, deadline=None)
@given(edges=st.integers(1, 5), ops=st.integers(2, 7), seed=st.integers(0, 2**31 - 1))
def test_a_round_is_a_distribution_over_the_remaining_ops(edges, ops, seed):
    rng = np.random.default_rng(seed)
    remaining = rng.random((edges, ops)) < 0.7
    remaining[np.arange(edges), rng.integers(0, ops, edges)] = True
    r = round_scores(rng.random((edges, ops)), remaining, 100.0)
    assert np.all(r[~remaining] == 0) and r.sum(axis=-1) == pytest.approx(np.ones(edges))
    after = prune_weakest(rng.random((edges, ops)), remaining)
    left = remaining.sum(-1)
    assert (after.sum(-1) == np.where(left > 1, left - 1, 1)).all() and not (after & ~remaining).any()


def _fake_evaluate(calls):
    def evaluate(samples):
        calls.append(samples)
        return torch.rand(len(samples)).tolist()
    return evaluate


def test_the_pruning_schedule_and_every_round_scores_each_remaining_op_once():
    net = _supernet()
    strategy = DDPNAS(prune_every=2)
    strategy.configure_supernet(net)
    assert strategy.ops_left() == 5 and strategy.state_dict()["theta"] == {"cell": [[0.2] * 5] * 6}
    calls, left = [], []
    torch.manual_seed(0)
    for epoch in range(10):
        before = {k: r.copy() for k, r in strategy.remaining.items()}
        strategy.on_epoch_end(epoch, 10, _fake_evaluate(calls))
        left.append(strategy.ops_left())
        if epoch < 8:
            round_ = calls[-1]
            assert len(round_) == int(before["cell"].sum(-1).max())
            for e in range(6):  # every remaining op of every edge in exactly one cell of the round
                assert sorted(s["cell"][e] for s in round_) == np.flatnonzero(before["cell"][e]).tolist()
    assert left == [5, 4, 4, 3, 3, 2, 2, 1, 1, 1]
    assert len(calls) == 8  # once one cell remains nothing is scored any more
    assert strategy.remaining["cell"].sum(-1).tolist() == [1] * 6
    cell = NB201Cell(*(net.primitives[int(np.flatnonzero(r)[0])] for r in strategy.remaining["cell"]))
    assert strategy.derive(net) == cell
    assert torch.allclose(torch.softmax(net.alphas, -1), torch.as_tensor(strategy.remaining["cell"], dtype=torch.float32))


@pytest.mark.parametrize("sampling", ["theta", "uniform"])
def test_pruned_ops_are_never_drawn_and_draws_follow_the_distribution(sampling):
    net = _supernet()
    strategy = DDPNAS(prune_every=1, sampling=sampling)
    strategy.configure_supernet(net)
    torch.manual_seed(1)
    strategy.on_epoch_end(0, 4, _fake_evaluate([]))
    strategy.on_epoch_end(1, 4, _fake_evaluate([]))
    remaining = strategy.remaining["cell"]
    assert remaining.sum() == 6 * 3
    draws = np.array([strategy.op_weights(net.alphas, "cell").active for _ in range(3000)])
    p = probabilities(strategy.theta["cell"], remaining) if sampling == "theta" else remaining / 3.0
    for e in range(6):
        assert remaining[e, draws[:, e]].all()  # no pruned op, ever
        counts = np.bincount(draws[:, e], minlength=5)[remaining[e]]
        assert stats.chisquare(counts, 3000 * p[e][remaining[e]]).pvalue > 1e-3, (counts, p[e])
    for sample in strategy.round_samples():
        assert remaining[np.arange(6), list(sample["cell"])].all()


def test_derive_before_the_end_is_the_most_probable_op_per_edge():
    net = _supernet()
    strategy = DDPNAS()
    strategy.configure_supernet(net)
    theta = np.full((6, 5), 0.1)
    best = [3, 1, 4, 0, 2, 2]
    theta[np.arange(6), best] = 0.6
    theta[0, 4] = 0.9  # pruned: does not count
    strategy.theta["cell"] = theta
    strategy.remaining["cell"][0, 4] = False
    assert strategy.derive(net) == NB201Cell(*(net.primitives[k] for k in best))
    assert np.allclose(net.arch_weights()["cell"], probabilities(theta, strategy.remaining["cell"]), atol=1e-6)


def _search(strategy):
    return WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=2, layers=1), search_strategy=strategy)


def _fit(root, strategy, epochs=3, callbacks=(), ckpt=None):
    return fit_search(root, _search(strategy), epochs, callbacks, ckpt)


def test_a_resumed_search_has_the_same_distribution_draws_and_cells(tmp_path):
    seed_everything(0)
    full = _fit(tmp_path / "full", RecordingDDPNAS(prune_every=1))
    assert [e["strategy"]["ops_left"] for e in full.alpha_history] == [4, 3, 2]
    assert all(a.grad is None for a in full.supernet.arch_parameters())
    seed_everything(0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(tmp_path / "part", RecordingDDPNAS(prune_every=1), callbacks=[CrashAtSecondEpoch()])
    saved = torch.load(tmp_path / "part" / "ckpt" / "last.ckpt", weights_only=False)
    assert saved["unnas_search"]["strategy"] == json.loads(json.dumps(full.alpha_history[0]["strategy"]))
    seed_everything(123)  # a different process state: everything must come from the checkpoint
    resumed = _fit(tmp_path / "part", RecordingDDPNAS(prune_every=1), ckpt=str(tmp_path / "part" / "ckpt" / "last.ckpt"))
    assert len(resumed.search_strategy.draws) == 6
    assert resumed.search_strategy.draws == full.search_strategy.draws[-6:]
    assert resumed.alpha_history == full.alpha_history
    assert resumed.search_strategy.state_dict() == full.search_strategy.state_dict()
    for a, b in zip(resumed.supernet.parameters(), full.supernet.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("make, message", [
    (lambda: DDPNAS(prune_every=0), "DDPNAS search_strategy.init_args.prune_every=0: must be a positive integer; "
                                    "set model.init_args.search_strategy.init_args.prune_every, e.g. 2"),
    (lambda: DDPNAS(temperature=0.0), "DDPNAS search_strategy.init_args.temperature=0.0: must be a finite number in "
                                      "(0, inf); set model.init_args.search_strategy.init_args.temperature, e.g. 100.0"),
    (lambda: DDPNAS(sampling="greedy"), "DDPNAS search_strategy.init_args.sampling='greedy': must be 'theta' or 'uniform'; "
                                        "set model.init_args.search_strategy.init_args.sampling"),
])
def test_impossible_settings_are_one_config_error_line(make, message):
    assert one_config_error(make) == message


def test_the_config_is_the_darts_recipe_with_one_strategy_line(monkeypatch):
    cli = strategy_overlay("nb201_cifar10_cpu", "ddpnas",
                           {"class_path": "unnas.modules.strategies.DDPNAS", "init_args": {"prune_every": 2}},
                           monkeypatch)
    # 5 ops, one pruned every 2 epochs: one cell is left exactly at the end of the 8 epochs
    assert cli.trainer.max_epochs == 2 * (5 - 1)
    strategy = cli.model.search_strategy
    assert type(strategy) is DDPNAS and strategy.prune_every == 2 and strategy.ops_left() == 5
    assert cli.model.supernet._op_weights_rule == strategy.op_weights
