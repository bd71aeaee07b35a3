"""Rank aggregation: the set-level functions, the reference rank, the Aggregate ranker (calibration, seeds,
components), AZ-NAS's shared pass, and both through ``unnas rank`` and a study's ranker config."""

import io
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from unnas.cli import main
from unnas.errors import ConfigError
from unnas.rankers import RANKERS, Aggregate, RankBatch, gaussian_batch, ranker_class
from unnas.rankers import aggregate as agg
from unnas.rankers import aznas
from unnas.rankers.aggregate import calibrate, combine, log_rank_sum, mean_rank, reference_rank


def test_reference_rank_closed_forms():
    ref = [3.0, 1.0, 2.0]
    assert reference_rank(ref, 0.0) == pytest.approx(1 / 4)  # below every reference score
    assert reference_rank(ref, 9.0) == pytest.approx(1.0)  # above every one
    assert reference_rank(ref, 2.0) == pytest.approx((1 + 1 + 0.5) / 4)  # one below, one equal
    assert reference_rank(ref, 1.5) == pytest.approx((1 + 1.0) / 4)  # half-way between 1 (0.5) and 2 (1.5)
    assert reference_rank([1.0, 1.0, 2.0], 1.0) == pytest.approx((1 + 0 + 1.0) / 4)  # two ties share
    with pytest.raises(ConfigError, match="NaN"):
        reference_rank(ref, float("nan"))
    with pytest.raises(ConfigError, match="at least one"):
        reference_rank([], 1.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30),
       st.floats(-2e6, 2e6, allow_nan=False), st.floats(-2e6, 2e6, allow_nan=False))
def test_reference_rank_is_monotone_and_bounded(ref, a, b):
    n = len(ref)
    ra, rb = reference_rank(ref, a), reference_rank(ref, b)
    for r in (ra, rb):
        assert 1 / (n + 1) - 1e-12 <= r <= 1 + 1e-12
    if a <= b:
        assert ra <= rb + 1e-12
    # at a reference score it is exactly the rank among the reference with that score added
    v = ref[0]
    below, equal = sum(r < v for r in ref), sum(r == v for r in ref)
    assert reference_rank(ref, v) == pytest.approx((1 + below + equal / 2) / (n + 1))


def test_combine_methods():
    assert combine([1.0, 0.5], "log_rank_sum") == pytest.approx(math.log(0.5))
    assert combine([1.0, 0.5], "mean_rank") == pytest.approx(0.75)
    with pytest.raises(ConfigError, match="log_rank_sum, mean_rank"):
        combine([1.0], "median")


def test_set_level_aggregates():
    scores = {"a": [1, 2, 3, 4], "b": [4, 3, 2, 1]}
    assert np.allclose(log_rank_sum(scores), [np.log(1 / 4) + 0, np.log(2 / 4 * 3 / 4), np.log(3 / 4 * 2 / 4), np.log(1 / 4)])
    assert np.allclose(mean_rank(scores), [2.5, 2.5, 2.5, 2.5])
    with pytest.raises(ConfigError, match="NaN"):
        log_rank_sum({"a": [1.0, float("nan")]})


class _Width(nn.Module):
    """A network whose only trait is its width: ``params`` and ``macs`` grow with it."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


class _WidthSpace:
    """A stand-in space: archs are widths; counts the networks it builds."""

    name = "widths"

    def __init__(self):
        self.built = 0

    def shape(self):
        return {"k": 3}

    def sample(self, n, seed=0):
        return [int(w) for w in np.random.default_rng(seed).integers(2, 40, n)]

    def network(self, width):
        self.built += 1
        return _Width(width)


def test_one_component_keeps_its_order_and_calibration_is_kept_per_setting():
    space, batch = _WidthSpace(), gaussian_batch((3, 8, 8), 4, 10)
    ranker = Aggregate(["params"], reference=16, reference_seed=5)
    with pytest.raises(ConfigError, match="reference sample"):
        ranker.score(_Width(3), batch)
    calibrate(ranker, space, space.network, batch, build_key="t1")
    assert space.built == 16
    widths = [3, 7, 11, 19, 25, 33]
    scores = [ranker.score(_Width(w), batch) for w in widths]
    assert scores == sorted(scores) and len(set(scores)) == len(scores)  # inside the reference's range: strict
    assert ranker.score(_Width(200), batch) == pytest.approx(0.0)  # above every reference network: log 1
    again = Aggregate(["params"], reference=16, reference_seed=5)
    calibrate(again, space, space.network, batch, build_key="t1")
    assert space.built == 16  # the same setting in the same process: not scored again
    again.seed = 3  # a new seed is a new setting (the reference networks are built after that seed)
    calibrate(again, space, space.network, batch, build_key="t1")
    assert space.built == 32 and all(c.seed == 3 for c in again.components)


def test_aggregate_of_two_rankers_against_the_reference_by_hand():
    space, batch = _WidthSpace(), gaussian_batch((3, 8, 8), 4, 10)
    ranker = Aggregate(["params", "macs"], method="mean_rank", reference=8)
    calibrate(ranker, space, space.network, batch, build_key="t2")
    net = _Width(17)
    p, m = RANKERS["params"]().score(net, batch), RANKERS["macs"]().score(net, batch)
    ref = [_Width(w) for w in space.sample(8, 0)]
    ref_p = [RANKERS["params"]().score(r, batch) for r in ref]
    ref_m = [RANKERS["macs"]().score(r, batch) for r in ref]
    expected = (reference_rank(ref_p, p) + reference_rank(ref_m, m)) / 2
    assert ranker.score(net, batch) == pytest.approx(expected)


def test_aggregate_arguments_are_checked():
    with pytest.raises(ConfigError, match="unknown aggregation method"):
        Aggregate(["params"], method="max")
    with pytest.raises(ConfigError, match="at least one ranker"):
        Aggregate([])
    with pytest.raises(ConfigError, match="unknown ranker"):
        Aggregate(["nope"])
    with pytest.raises(ConfigError, match="single rankers"):
        Aggregate(["az_nas"])
    with pytest.raises(ConfigError, match="at least one architecture"):
        Aggregate(["params"], reference=0)


def test_aggregate_reads_images_when_a_component_does():
    assert Aggregate(["params", "naswot"]).needs_images and not Aggregate(["params", "macs"]).needs_images


def test_az_rankers_share_one_pass(monkeypatch):
    calls = []
    real = aznas.az_nas_scores

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(aznas, "az_nas_scores", counting)
    from unnas.spaces import NB201Space

    space = NB201Space(channels=4, layers=1)
    torch.manual_seed(0)
    net = space.network(space.sample(1, 3)[0])
    batch = gaussian_batch((3, 16, 16), 4, 10)
    scores = [ranker_class(n)(seed=1).score(net, batch) for n in ("az_expressivity", "az_progressivity",
                                                                  "az_trainability")]
    assert len(calls) == 1
    assert scores == list(aznas.seeded_scores(net, batch, seed=1)[:3])  # the pass of each on its own
    counted = []
    monkeypatch.setattr(aznas, "count_macs", lambda *a: counted.append(1) or 7.0)
    assert ranker_class("az_complexity")().score(net, batch) != 7.0  # the pass's count: no count of its own
    assert ranker_class("az_complexity")().score(net, gaussian_batch((3, 8, 8), 4, 10)) == 7.0 and counted  # shape
    calls.clear()
    ranker_class("az_expressivity")(seed=2).score(net, batch)  # another seed: another pass
    assert len(calls) == 1
    with torch.no_grad():
        next(net.parameters()).mul_(2.0)  # the network changed in place: another pass
    ranker_class("az_expressivity")(seed=2).score(net, batch)
    assert len(calls) == 2


def _rank(argv):
    out = io.StringIO()
    main(["rank", *argv], out=out, stdin=io.StringIO(""))
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_az_nas_through_unnas_rank_is_the_log_rank_sum_against_its_reference():
    rows = _rank(["nb201/00007", "nb201/08123", "nb201/15000", "--space", "nb201", "--rankers",
                  "az_nas,az_expressivity,az_progressivity,az_trainability,az_complexity", "--channels", "4",
                  "--layers", "1", "--batch", "4", "--json", "--seed", "2"])
    from unnas.spaces import NB201Space

    space, batch = NB201Space(channels=4, layers=1), gaussian_batch((3, 32, 32), 4, 10, seed=2)
    ranker = RANKERS["az_nas"](seed=2)
    rows_by_hand = []  # the reference scored here, not taken from the command's calibration
    for cell in space.sample(128, seed=0):
        torch.manual_seed(2)
        rows_by_hand.append(ranker.component_scores(space.network(cell), batch))
    ranker.set_reference(rows_by_hand)
    assert ranker.reference == 128 and len(ranker.reference_scores) == 4
    for row in rows:
        values = [row[n] for n in ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity")]
        assert row["az_nas"] == pytest.approx(ranker.combine(values))
        assert row["az_nas"] <= 0


def test_aggregate_from_a_study_config_with_class_path():
    from unnas.study.ranker_tasks import build_ranker

    cfg = {"ranker": {"class_path": "unnas.rankers.Aggregate",
                      "init_args": {"rankers": ["params", {"class_path": "unnas.rankers.MeCoOpt",
                                                           "init_args": {"channels": 4}}],
                                    "method": "mean_rank", "reference": 8}},
           "space": {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}},
           "input_shape": [3, 16, 16], "num_classes": 10, "batch_size": 4}
    ranker, space, source = build_ranker(cfg, "test")
    assert isinstance(ranker, Aggregate) and ranker.method == "mean_rank" and ranker.reference == 8
    assert [c.name for c in ranker.components] == ["params", "meco_opt"] and ranker.components[1].channels == 4
    ranker.seed = 4
    assert [c.seed for c in ranker.components] == [4, 4]
    batch = gaussian_batch((3, 16, 16), 4, 10, seed=4)
    calibrate(ranker, space, space.network, batch)
    torch.manual_seed(4)
    score = ranker.score(space.network(space.sample(1, 9)[0]), batch)
    assert 0 < score <= 1


def test_rank_batch_aggregate_is_deterministic():
    space, batch = _WidthSpace(), RankBatch(torch.randn(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))
    a, b = Aggregate(["params", "meco"], reference=6), Aggregate(["params", "meco"], reference=6)
    calibrate(a, space, space.network, batch, build_key="d")
    agg._CALIBRATIONS.clear()
    calibrate(b, space, space.network, batch, build_key="d")
    assert all(np.array_equal(x, y) for x, y in zip(a.reference_scores, b.reference_scores))
    net = _Width(9)
    assert a.score(net, batch) == b.score(net, batch)


def test_components_with_other_settings_are_another_calibration():
    space, batch = _WidthSpace(), gaussian_batch((3, 8, 8), 4, 10)
    a = Aggregate([RANKERS["meco_opt"](channels=8)], reference=4)
    b = Aggregate([RANKERS["meco_opt"](channels=2)], reference=4)
    calibrate(a, space, space.network, batch, build_key="k")
    built = space.built
    calibrate(b, space, space.network, batch, build_key="k")
    assert space.built == built + 4  # not the first one's reference
