"""TND-NAS: shrinking by the lowest alpha down to min_ops, the budgeted Pareto front, removed ops that never run
and get no gradient, the shrink schedule, the derivation under the budget, resume, errors and the config."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from lightning.pytorch import seed_everything

from conftest import CrashAtSecondEpoch, strategy_overlay, one_config_error, fit_search
from pretext_tasks import Supervised
from unnas.modules import WeightSharingSearch
from unnas.modules.strategies import TNDNAS
from unnas.modules.strategies.tndnas import REMOVED_ALPHA, budget_front, masked_softmax, shrink
from unnas.pareto import pareto_front
from unnas.spaces import DartsSpace, NB201Space
from unnas.spaces.oneshot import MixedOp
from unnas.spaces.nb201.cell import NB201Cell
from unnas.spaces.speedups import Speedups


def _supernet(space="nb201", speedups=Speedups.off(), seed=3):
    torch.manual_seed(seed)
    shape = (DartsSpace(channels=4, layers=3, speedups=speedups) if space == "darts"
             else NB201Space(channels=4, layers=1, speedups=speedups))
    net = shape.supernet(num_classes=3).double()
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_(0.0, 1.0)
    return net


# ------------------------------------------------------------------------------------------------ pure functions
def test_shrink_on_a_hand_computed_case():
    alpha = np.array([[0.3, -1.0, 0.2, 5.0], [0.0, 0.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    remaining = np.array([[True, False, True, True], [True, True, True, True], [False, False, True, True]])
    # edge 0: op 1 (lowest alpha) is already gone, so op 2; edge 1: tie at 0.0, the lower index; edge 2: at min_ops
    assert shrink(alpha, remaining, 2).tolist() == [[True, False, False, True], [False, True, True, True],
                                                    [False, False, True, True]]
    assert shrink(alpha, remaining, 1)[2].tolist() == [False, False, False, True]


@settings(max_examples=60, deadline=None)
@given(edges=st.integers(1, 6), ops=st.integers(1, 8), min_ops=st.integers(1, 8), seed=st.integers(0, 2**31 - 1))
def test_shrink_removes_the_lowest_remaining_alpha_and_never_goes_below_min_ops(edges, ops, min_ops, seed):
    rng = np.random.default_rng(seed)
    alpha = rng.normal(size=(edges, ops)).round(1)  # rounded: ties happen
    remaining = rng.random((edges, ops)) < 0.7
    remaining[np.arange(edges), rng.integers(0, ops, edges)] = True
    after = shrink(alpha, remaining, min_ops)
    assert not (after & ~remaining).any()
    for e in range(edges):
        left = remaining[e].sum()
        if left <= min_ops:
            assert after[e].tolist() == remaining[e].tolist()
            continue
        (gone,) = np.flatnonzero(remaining[e] & ~after[e])
        candidates = np.flatnonzero(remaining[e])
        assert gone == candidates[np.argmin(alpha[e, candidates])]  # the lowest alpha; ties: the lower index
        assert after[e].sum() == left - 1 >= min_ops


@settings(max_examples=80, deadline=None)
@given(points=st.lists(st.tuples(st.integers(1, 20), st.integers(0, 10)), min_size=0, max_size=12),
       budget=st.one_of(st.none(), st.integers(0, 22)))
def test_the_front_is_the_pareto_front_of_the_cells_within_budget(points, budget):
    costs, scores = [float(c) for c, _ in points], [s / 10 for _, s in points]
    on = budget_front(costs, scores, None if budget is None else float(budget))
    within = [budget is None or c <= budget for c in costs]
    assert not any(o and not w for o, w in zip(on, within))  # nothing over budget
    front = [i for i, o in enumerate(on) if o]
    for i in range(len(points)):
        dominated = any(costs[j] <= costs[i] and scores[j] >= scores[i]
                        and (costs[j] < costs[i] or scores[j] > scores[i]) for j in range(len(points)) if within[j])
        assert on[i] == (within[i] and not dominated)
        if within[i] and not on[i]:  # every cell left out within budget is beaten by a front cell
            assert any(costs[j] <= costs[i] and scores[j] >= scores[i] for j in front)
    if budget is None:
        assert on == pareto_front(list(zip(costs, scores)))


@settings(max_examples=40, deadline=None)
@given(edges=st.integers(1, 5), ops=st.integers(2, 7), seed=st.integers(0, 2**31 - 1))
def test_masked_softmax_is_zero_with_no_gradient_on_removed_ops(edges, ops, seed):
    rng = np.random.default_rng(seed)
    remaining = torch.as_tensor(rng.random((edges, ops)) < 0.6)
    remaining[torch.arange(edges), torch.as_tensor(rng.integers(0, ops, edges))] = True
    alpha = torch.as_tensor(rng.normal(size=(edges, ops)), dtype=torch.float64).requires_grad_()
    w = masked_softmax(alpha, remaining)
    assert (w[~remaining] == 0).all() and torch.allclose(w.sum(-1), torch.ones(edges, dtype=torch.float64))
    expected = torch.where(remaining, alpha.detach().exp(), 0.0)
    assert torch.allclose(w, expected / expected.sum(-1, keepdim=True), rtol=1e-12, atol=0)
    (w * torch.as_tensor(rng.normal(size=(edges, ops)))).sum().backward()
    assert (alpha.grad[~remaining] == 0).all()


# ------------------------------------------------------------------------------------------------ removed ops
def _edges(net, space):
    """(mixed op, alpha key, row) of every edge of every cell."""
    out = []
    for cell in net.cells:
        mixed = [m for m in cell.modules() if isinstance(m, MixedOp)]
        key = "cell" if space == "nb201" else ("reduce" if cell.reduction else "normal")
        out += [(m, key, e) for e, m in enumerate(mixed)]
    return out


@pytest.mark.parametrize("speedups", [Speedups.off(), Speedups.on()], ids=["plain", "fused"])
@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_removed_ops_never_run_get_no_gradient_and_the_output_is_the_masked_sum(space, speedups):
    net = _supernet(space, speedups)
    strategy = TNDNAS(min_ops=2)
    strategy.configure_supernet(net)
    net.set_op_weights(strategy.op_weights)
    for _ in range(3):
        strategy.shrink_space()
    remaining = strategy.remaining
    assert all(r.sum(-1).tolist() == [max(2, r.shape[1] - 3)] * r.shape[0] for r in remaining.values())
    touched = {}
    edges = _edges(net, space)
    for m, _, _ in edges:
        for k, op in enumerate(m._ops):
            for sub in op.modules():
                sub.register_forward_pre_hook(lambda mod, inp, m=m, k=k: touched.setdefault(id(m), set()).add(k))
    x, y = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.tensor([0, 2])
    out = net(x)
    F.cross_entropy(out, y).backward()
    for m, key, e in edges:
        ran = set(np.flatnonzero(remaining[key][e]).tolist())
        assert touched[id(m)] <= ran  # a removed op never runs
        if speedups == Speedups.off():  # the fused path skips `none` and calls some layers functionally
            assert touched[id(m)] == ran
        for k, op in enumerate(m._ops):
            for p in op.parameters():
                assert (p.grad is None) == (k not in ran)
    alphas = dict(zip(net.arch_weights(), net.arch_parameters()))
    for key, r in remaining.items():
        removed = torch.as_tensor(~r)
        assert (alphas[key].grad[removed] == 0).all() and (alphas[key][removed] == REMOVED_ALPHA).all()
    # the same value and alpha gradient as every op running with the masked weights (every op running)
    plain = _supernet(space, speedups)
    plain.load_state_dict(net.state_dict())
    masks = {k: torch.as_tensor(v) for k, v in remaining.items()}
    plain.set_op_weights(lambda alpha, key: masked_softmax(alpha, masks[key]))
    out_plain = plain(x)
    F.cross_entropy(out_plain, y).backward()
    assert torch.allclose(out, out_plain, rtol=1e-10, atol=1e-12)
    for a, b in zip(net.arch_parameters(), plain.arch_parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-8, atol=1e-12)
    # the mixed ops' own paths are back as they were: with no zero weight every op runs again
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_()
    net.set_op_weights(None)
    touched.clear()
    net(x)
    if speedups == Speedups.off():
        assert all(touched[id(m)] == set(range(len(m._ops))) for m, _, _ in edges)


# ------------------------------------------------------------------------------------------------ schedule and front
def _nb201_cost(net):
    def cost(cell):
        return {"params": 6.0, "macs": 100.0 * sum(net.primitives.index(op) for op in cell)}
    return cost


def _scores_by_cost(calls, cost, genotype):
    """An evaluate whose held-out score grows with the cell's cost (the budget is then what holds it back)."""
    def evaluate(samples):
        calls.append(samples)
        return [cost(genotype(s))["macs"] / 10_000 for s in samples]
    return evaluate


def test_the_shrink_schedule_and_the_candidates_drawn_from_the_shrunk_space():
    net = _supernet()
    strategy = TNDNAS(shrink_every=2, min_ops=2, num_candidates=8, budget=1200.0)
    strategy.configure_supernet(net)
    strategy.configure_cost(_nb201_cost(net))
    calls, left = [], []
    torch.manual_seed(0)
    for epoch in range(8):
        alpha_before = net.alphas.detach().clone()
        before = strategy.remaining["cell"].copy()
        strategy.on_epoch_end(epoch, 8, _scores_by_cost(calls, _nb201_cost(net), strategy._genotype))
        left.append(strategy.ops_left())
        if epoch % 2 == 0:
            assert len(calls) == epoch // 2 and (strategy.remaining["cell"] == before).all()
            continue
        assert (strategy.remaining["cell"] == shrink(alpha_before.numpy(), before, 2)).all()
        samples = calls[-1]
        assert 1 <= len(samples) <= 8 and len({tuple(s["cell"]) for s in samples}) == len(samples)
        for s in samples:
            assert strategy.remaining["cell"][np.arange(6), list(s["cell"])].all()
    assert left == [5, 4, 4, 3, 3, 2, 2, 2] and len(calls) == 4
    removed = ~strategy.remaining["cell"]
    assert (net.alphas[torch.as_tensor(removed)] == REMOVED_ALPHA).all()
    assert np.allclose(net.arch_weights()["cell"][removed], 0.0)


def test_the_derived_cell_is_the_most_accurate_front_cell_within_budget():
    net = _supernet()
    strategy = TNDNAS(shrink_every=1, min_ops=3, num_candidates=30, budget=900.0)
    strategy.configure_supernet(net)
    cost = _nb201_cost(net)
    strategy.configure_cost(cost)
    # before any round: the space's rule (per-edge argmax) at the alphas restricted to the remaining ops
    strategy.shrink_space()
    alpha = net.alphas.detach().numpy()
    best = [int(np.argmax(np.where(r, a, -np.inf))) for r, a in zip(strategy.remaining["cell"], alpha)]
    assert strategy.derive(net) == NB201Cell(*(net.primitives[k] for k in best))
    assert strategy.state_dict()["derived_from"] == "alphas" and strategy.cells(net) == []
    torch.manual_seed(1)
    scored = []
    for epoch in range(2):
        strategy.on_epoch_end(epoch, 2, _scores_by_cost([], cost, strategy._genotype))
        scored += strategy.last_round
    within = [c for c in scored if c["macs"] <= 900.0]
    assert within and len(within) < len(scored)  # the budget cuts the space
    derived = strategy.derive(net)
    assert cost(derived)["macs"] == max(c["macs"] for c in within) <= 900.0
    state = strategy.state_dict()
    assert state["derived_from"] == "front" and state["budget_met"] is True
    # the front: score grows with cost, so no cell within budget is beaten and every one is on it, cheapest first
    on_front = sorted(tuple(c["sample"]["cell"]) for c in state["front"])
    assert on_front == sorted({tuple(c["sample"]["cell"]) for c in within})
    assert [c["macs"] for c in state["front"]] == sorted(c["macs"] for c in state["front"])
    cells = strategy.cells(net)
    assert [cost(c["genotype"])["macs"] for c in cells] == [c["macs"] for c in state["front"]]
    assert [c["score"] for c in cells] == [c["score"] for c in state["front"]]


def test_with_no_cell_within_budget_the_cheapest_is_derived_and_the_state_says_so():
    net = _supernet()
    strategy = TNDNAS(shrink_every=1, num_candidates=10, budget=1.0)  # only the all-`none` cell fits
    strategy.configure_supernet(net)
    cost = _nb201_cost(net)
    strategy.configure_cost(cost)
    with torch.no_grad():
        net.alphas[:, 0] = -5.0  # `none` goes first
    torch.manual_seed(2)
    strategy.on_epoch_end(0, 1, _scores_by_cost([], cost, strategy._genotype))
    state = strategy.state_dict()
    assert state["derived_from"] == "cheapest_over_budget" and state["budget_met"] is False
    assert state["front"] == [] and strategy.cells(net) == []
    cheapest = min(c["macs"] for c in strategy.last_round)
    assert state["cheapest"]["macs"] == cheapest == cost(strategy.derive(net))["macs"] > 1.0


def test_darts_space_rounds_derive_a_darts_genotype_within_budget():
    net = _supernet("darts")
    strategy = TNDNAS(shrink_every=1, min_ops=2, num_candidates=6, budget=None, resource="params")
    strategy.configure_supernet(net)
    sizes = {}

    def cost(genotype):
        key = str(genotype)
        sizes.setdefault(key, {"params": float(len(sizes) % 4), "macs": 0.0})
        return sizes[key]

    strategy.configure_cost(cost)
    torch.manual_seed(4)
    strategy.on_epoch_end(0, 1, lambda samples: [0.1 * (i % 3) for i in range(len(samples))])
    assert strategy.remaining["normal"].sum(-1).tolist() == [7] * 14 and strategy.remaining["reduce"].sum() == 14 * 7
    front = strategy.state_dict()["front"]
    assert front
    assert budget_front([c["params"] for c in front], [c["score"] for c in front], None) == [True] * len(front)
    best = max(front, key=lambda c: (c["score"], -c["params"]))
    assert str(strategy.derive(net)) in sizes and cost(strategy.derive(net)) == {"params": best["params"], "macs": 0.0}


# ------------------------------------------------------------------------------------------------ through the module
def _fit(root, strategy, epochs=2, callbacks=(), ckpt=None):
    model = WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=2, layers=1), search_strategy=strategy,
                        arch_lr=0.05)
    return fit_search(root, model, epochs, callbacks, ckpt)


BUDGET = 20_000.0  # multiply-adds at C=2, N=1, 8x8 inputs: the cells span 10,656 to 52,128


def _strategy():
    return TNDNAS(budget=BUDGET, shrink_every=1, min_ops=1, num_candidates=6)


def test_a_search_records_the_front_within_budget_and_a_resumed_one_equals_the_uninterrupted_one(tmp_path):
    seed_everything(0)
    full = _fit(tmp_path / "full", _strategy())
    assert [e["strategy"]["ops_left"] for e in full.alpha_history] == [4, 3]
    for entry in full.alpha_history:
        state = entry["strategy"]
        genotype = full.space.from_dict(entry["genotype"])
        if state["derived_from"] == "front":
            assert full.cell_cost(genotype)["macs"] <= BUDGET
            assert [c["macs"] for c in entry["cells"]] == [c["macs"] for c in state["front"]]
            assert all(c["macs"] <= BUDGET for c in entry["cells"])
    assert full.alpha_history[-1]["strategy"]["derived_from"] == "front"
    with open(tmp_path / "full" / "front.json") as f:
        assert json.load(f)["front"]
    seed_everything(0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _fit(tmp_path / "part", _strategy(), callbacks=[CrashAtSecondEpoch()])
    saved = torch.load(tmp_path / "part" / "ckpt" / "last.ckpt", weights_only=False)
    assert saved["unnas_search"]["strategy"] == json.loads(json.dumps(full.alpha_history[0]["strategy"]))
    seed_everything(123)  # a different process state: everything must come from the checkpoint
    resumed = _fit(tmp_path / "part", _strategy(), ckpt=str(tmp_path / "part" / "ckpt" / "last.ckpt"))
    assert resumed.alpha_history == full.alpha_history
    assert resumed.search_strategy.state_dict() == full.search_strategy.state_dict()
    for a, b in zip(resumed.supernet.parameters(), full.supernet.parameters()):
        assert torch.equal(a, b)


def test_the_budget_cuts_the_space_of_the_test_search():
    model = WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=2, layers=1), search_strategy=_strategy())
    model._input_shape = (3, 8, 8)
    macs = [model.cell_cost(model.space.parse(s))["macs"] for s in (
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")]
    assert macs[0] < BUDGET < macs[1]


@pytest.mark.parametrize("make, message", [
    (lambda: TNDNAS(budget=0.0), "TNDNAS search_strategy.init_args.budget=0.0: must be a finite number in (0, inf); set "
                                 "model.init_args.search_strategy.init_args.budget, e.g. 4500000.0"),
    (lambda: TNDNAS(resource="flops"), "TNDNAS search_strategy.init_args.resource='flops': must be 'params' or 'macs'; "
                                       "set model.init_args.search_strategy.init_args.resource"),
    (lambda: TNDNAS(shrink_every=0), "TNDNAS search_strategy.init_args.shrink_every=0: must be a positive integer; "
                                     "set model.init_args.search_strategy.init_args.shrink_every, e.g. 2"),
    (lambda: TNDNAS(num_candidates=2.5), "TNDNAS search_strategy.init_args.num_candidates=2.5: must be a positive integer; "
                                         "set model.init_args.search_strategy.init_args.num_candidates, e.g. 10"),
    (lambda: TNDNAS(min_ops=6).configure_supernet(_supernet()),
     "TNDNAS search_strategy.init_args.min_ops=6: an edge of this space has only 5 ops; set "
     "model.init_args.search_strategy.init_args.min_ops to at most 5"),
])
def test_impossible_settings_are_one_config_error_line(make, message):
    assert one_config_error(make) == message


def test_the_config_is_the_darts_recipe_with_one_strategy_line(monkeypatch):
    cli = strategy_overlay("nb201_cifar10_cpu", "tndnas_nb201_cpu",
                           {"class_path": "unnas.modules.strategies.TNDNAS",
                            "init_args": {"budget": 4500000.0, "resource": "macs", "shrink_every": 2, "min_ops": 2,
                                          "num_candidates": 10}},
                           monkeypatch)
    strategy = cli.model.search_strategy
    assert type(strategy) is TNDNAS and strategy.budget == 4.5e6 and strategy.ops_left() == 5
    assert cli.model.supernet._op_weights_rule == strategy.op_weights
    # the budget excludes part of the space at the config's C=8, N=1: a cell of 3x3 convolutions is over it
    model = cli.model
    cost = [model.cell_cost(model.space.parse(s))["macs"] for s in (
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")]
    assert cost[0] < strategy.budget < cost[1]
