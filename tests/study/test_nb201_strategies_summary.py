"""The summary of the NAS-Bench-201 strategy searches (docs/results/nb201-strategies/summarize.py): which runs it
counts, the cell and true accuracy it reads from a supernet search and from a study run as a search, and the
parameter counts it reports."""

import importlib.util
import io
import json
import os

import pytest
import yaml

from unnas.cli import main
from unnas.spaces import NB201Space
from unnas.spaces.complexity import count_params
from unnas.spaces.nb201.benchmark import NB201Table
from unnas.study.smbo import objective_scores
from unnas.study.store import Store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUMMARIZE = os.path.join(ROOT, "docs", "results", "nb201-strategies", "summarize.py")


@pytest.fixture(scope="module")
def summarize():
    spec = importlib.util.spec_from_file_location("nb201_strategies_summarize", SUMMARIZE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def space():
    return NB201Space()


@pytest.fixture(scope="module")
def truth():
    return NB201Table("cifar10")


def test_cell_params_equal_the_built_networks_count(summarize, space):
    for cell in space.sample(12, seed=7):
        assert summarize.cell_params_m(space, cell) == pytest.approx(count_params(space.network(cell)) / 1e6,
                                                                      abs=1e-12)


def _supernet_run(folder, name, cell, *, finished=True):
    run = os.path.join(folder, "searches", name, "version_0")
    os.makedirs(run)
    # as the search writes it: every epoch's derived cell and the true accuracy it looked up then
    epochs = [{"epoch": 0, "genotype": {"space": "nb201", "arch": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"},
               "true_acc": 10.0},
              {"epoch": 1, "genotype": {"space": "nb201", "arch": cell}, "true_acc": None}]
    with open(os.path.join(run, "alphas.json"), "w") as f:
        json.dump({"epochs": epochs}, f)
    with open(os.path.join(run, "genotype.json"), "w") as f:
        json.dump({"space": "nb201", "arch": cell}, f)
    if finished:
        with open(os.path.join(run, "cpu_seconds.json"), "w") as f:
            json.dump({"wall_s": 10.0, "user_s": 9.0, "sys_s": 1.0, "cpu_s": 10.0, "threads": 1}, f)


def _smbo_run(folder, name, tmp_path):
    """A study of the params ranker (C=4, N=1, 8x8 inputs: fast) run as a search over the table cells."""
    config = tmp_path / "rankers.yaml"
    config.write_text(yaml.safe_dump({"rankers": {
        "space": {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}},
        "input_shape": [3, 8, 8], "num_classes": 4, "batch_size": 2}}))
    study = os.path.join(folder, "searches", name, "version_0", "study")
    out = io.StringIO()
    assert main(["study", "init", study, "--archs", "nb201-table:4:1", "--tasks", "params", "--config", str(config)],
                out=out) == 0
    assert main(["study", "search", study, "--objective", "params", "--rounds", "2", "--per-round", "2", "--pool",
                 "nb201-table", "--holdout-folds", "1", "--threads", "1", "--ensemble", "2", "--steps", "50"],
                out=out) == 0
    run = os.path.dirname(study)
    with open(os.path.join(run, "genotype.json"), "w") as f:
        json.dump({}, f)
    with open(os.path.join(run, "cpu_seconds.json"), "w") as f:
        json.dump({"wall_s": 5.0, "user_s": 5.0, "sys_s": 0.0, "cpu_s": 5.0, "threads": 1}, f)
    return study


def test_runs_are_read_from_both_kinds_of_search_and_unfinished_ones_left_out(summarize, space, truth, tmp_path):
    folder = str(tmp_path / "out")
    covered = truth.archs()[3]
    uncovered = next(str(c) for c in space.sample(200, seed=1) if truth.query(c) is None)
    _supernet_run(folder, "darts_supervised_seed1", covered)
    _supernet_run(folder, "darts_supervised_seed2", uncovered)
    _supernet_run(folder, "gdas_rotation_seed1", covered, finished=False)  # stopped part-way
    _supernet_run(folder, "not a run name", covered)
    study = _smbo_run(folder, "smbo_params_seed3", tmp_path)

    runs = summarize.load_runs(folder, space, truth)
    assert set(runs) == {"darts_supervised_seed1", "darts_supervised_seed2", "smbo_params_seed3"}
    first, second = runs["darts_supervised_seed1"], runs["darts_supervised_seed2"]
    assert first["final_cell"] == str(space.parse(covered)) and first["true_acc"] == truth.query(covered)
    assert first["epochs"] == 2 and first["per_epoch_true_acc"] == [10.0, None]  # the search's record, as written
    assert second["true_acc"] is None and second["match"] == "not covered"
    assert first["params_m"] == pytest.approx(count_params(space.network(space.parse(covered))) / 1e6)

    # the smbo run's found cell is the study's best-scored architecture, and every cell it ends in is covered
    store = Store.open(study)
    scores = objective_scores(store, "params")
    best = max(scores, key=scores.get)
    smbo = runs["smbo_params_seed3"]
    assert smbo["final_cell"] == str(space.load(dict(store.archs())[best]))
    assert smbo["true_acc"] == truth.query(smbo["final_cell"]) is not None
    assert smbo["rounds"] == 2 and smbo["trained"] == 8 and len(smbo["per_round_true_acc"]) == 3
    assert smbo["per_round_true_acc"][-1] == smbo["true_acc"]

    rows = summarize.summarize(runs)
    darts = next(r for r in rows if r["strategy"] == "darts")
    assert darts["runs"] == 2 and darts["known"] == 1 and darts["true_acc_mean"] == truth.query(covered)
    # one covered run has no spread: its std and interval are undefined, not 0
    assert darts["true_acc_std"] is None and darts["true_acc_ci95"] is None and darts["cpu_s_mean"] == 10.0
    assert smbo["pick_true_rank"] is not None and 1 <= smbo["pick_true_rank"] <= smbo["trained"]


def test_the_summary_file_has_a_row_per_pair_and_the_pooled_tables(summarize, space, truth, tmp_path):
    folder = str(tmp_path / "out")
    cells = truth.archs()[:2]
    _supernet_run(folder, "darts_jigsaw_seed1", cells[0])
    _supernet_run(folder, "gdas_jigsaw_seed1", cells[1])
    summarize.main([folder])
    text = open(os.path.join(folder, "summary.md")).read()
    acc = f"{truth.query(cells[0]):.2f} (n=1)"
    assert f"| darts | jigsaw | 1 | {acc} | – |" in text
    assert "Pooled by strategy" in text and "Pooled by objective" in text
    (pooled,) = json.load(open(os.path.join(folder, "results.json")))["by_objective"]
    assert pooled["objective"] == "jigsaw" and pooled["runs"] == 2 and pooled["known"] == 2
    assert pooled["true_acc_mean"] == pytest.approx((truth.query(cells[0]) + truth.query(cells[1])) / 2)


def test_a_pair_with_one_covered_run_is_shown_as_n_1_not_as_zero_spread(summarize, space, truth, tmp_path):
    folder = str(tmp_path / "out")
    covered = truth.archs()[5]
    uncovered = next(str(c) for c in space.sample(200, seed=2) if truth.query(c) is None)
    _supernet_run(folder, "gdas_supervised_seed1", covered)
    _supernet_run(folder, "gdas_supervised_seed2", uncovered)
    summarize.main([folder])
    text = open(os.path.join(folder, "summary.md")).read()
    row = next(line for line in text.splitlines() if line.startswith("| gdas | supervised |"))
    assert f"{truth.query(covered):.2f} (n=1, 1 of 2)" in row
    assert "± 0.00" not in row and "± 0.00" not in text.split("Published:")[0]


def test_intervals_and_the_kruskal_wallis_tests(summarize):
    assert summarize.t_interval([5.0]) is None and summarize.t_interval([]) is None
    low, high = summarize.t_interval([1.0, 2.0, 3.0])  # mean 2, s 1, t(2) 4.303: 2 ± 4.303/√3
    assert low == pytest.approx(2 - 4.302653 / 3 ** 0.5, abs=1e-5) and high == pytest.approx(4 - low, abs=1e-9)
    runs = {f"r{i}": {"strategy": "a" if i < 4 else "b", "objective": "x", "true_acc": float(i)} for i in range(8)}
    runs["u"] = {"strategy": "b", "objective": "x", "true_acc": None}  # not covered: left out of the test
    test = summarize.kruskal(runs, "strategy")
    assert test["groups"] == {"a": 4, "b": 4} and test["df"] == 1
    from scipy import stats
    assert test["p"] == pytest.approx(stats.kruskal([0, 1, 2, 3], [4, 5, 6, 7]).pvalue)
    assert summarize.kruskal(runs, "objective")["p"] is None  # one group: nothing to test
