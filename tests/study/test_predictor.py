"""The surrogate over a study's finished jobs: architecture features, the MLP ensemble, proposals, and the
`study propose` / `study search` commands on a NAS-Bench-201 study scored by the params ranker."""

import io
import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from unnas.cli import main
from unnas.spaces import DartsSpace, NB101Space, NB201Space
from unnas.spaces.complexity import count_params
from unnas.spaces.nb201.cell import NUM_CELLS, cell_from_index
from unnas.spaces.nb201.ops import PRIMITIVES as NB201_PRIMITIVES
from unnas.study.predictor import Surrogate, arch_features, fit_surrogate, holdout_rho, propose
from unnas.study.store import Store

CHANNELS, LAYERS, CLASSES = 4, 1, 4
FAST = ["--ensemble", "3", "--steps", "150"]


# ------------------------------------------------------------------------------------------------ features
@pytest.mark.parametrize("space_cls", [DartsSpace, NB201Space, NB101Space], ids=lambda c: c.name)
def test_features_are_equal_for_equal_archs_and_distinct_for_distinct_ones(space_cls):
    space = space_cls()
    archs = space.sample(40, seed=3)
    feats = [arch_features(space, a) for a in archs]
    assert len({f.shape for f in feats}) == 1 and feats[0].ndim == 1
    assert len({f.tobytes() for f in feats}) == len(set(archs)) == 40
    for a, f in zip(archs[:5], feats):  # the same architecture from its JSON text
        np.testing.assert_array_equal(arch_features(space, space.to_json(a)), f)


def test_darts_features_ignore_the_order_of_a_nodes_two_edges():
    space = DartsSpace()
    g = space.sample(1, seed=0)[0]
    d = space.to_dict(g)
    d["normal"][0], d["normal"][1] = d["normal"][1], d["normal"][0]
    swapped = space.from_dict(d)
    assert swapped != g or d["normal"][0] == d["normal"][1]
    np.testing.assert_array_equal(arch_features(space, swapped), arch_features(space, g))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, NUM_CELLS - 1))
def test_nb201_features_are_a_one_hot_op_per_edge(index):
    cell = cell_from_index(index)
    f = arch_features(NB201Space(), cell).reshape(6, len(NB201_PRIMITIVES))
    assert set(np.unique(f)) <= {0.0, 1.0} and (f.sum(axis=1) == 1).all()
    assert tuple(NB201_PRIMITIVES[i] for i in f.argmax(axis=1)) == tuple(cell)


def test_nb101_features_pad_to_seven_vertices():
    space = NB101Space()
    small = space.load({"matrix": [[0, 1, 0], [0, 0, 1], [0, 0, 0]], "ops": ["input", "conv3x3-bn-relu", "output"]})
    f = arch_features(space, small)
    assert f.shape == (21 + 5 * 3,)
    adj = np.zeros((7, 7))
    adj[np.triu_indices(7, 1)] = f[:21]
    assert adj[0, 1] == 1 and adj[1, 6] == 1 and adj.sum() == 2  # input -> conv -> output (the last slot)
    assert f[21:24].tolist() == [1, 0, 0] and f[24:].sum() == 0


# ------------------------------------------------------------------------------------------------ the surrogate
def _nb201_table():
    space = NB201Space()
    cells = [c for _, c in space.arch_set("nb201-table")]
    X = np.stack([arch_features(space, c) for c in cells])
    convs = np.array([sum(op.startswith("nor_conv") for op in c) for c in cells], dtype=float)
    return X, convs


def test_surrogate_recovers_a_known_ranking_on_unseen_archs():
    X, y = _nb201_table()
    surrogate = fit_surrogate(X[:40], y[:40], ensemble=3, seed=0, steps=200)
    mean, std = surrogate.predict(X[40:])
    assert spearmanr(mean, y[40:])[0] > 0.8
    assert mean.shape == std.shape == (len(X) - 40,) and (std >= 0).all() and std.max() > 0


def test_surrogate_is_deterministic_from_its_seed_and_leaves_the_global_rng_alone():
    X, y = _nb201_table()
    state = torch.get_rng_state()
    a = fit_surrogate(X[:20], y[:20], ensemble=2, seed=5, steps=50).predict(X)
    assert torch.equal(torch.get_rng_state(), state)
    b = fit_surrogate(X[:20], y[:20], ensemble=2, seed=5, steps=50).predict(X)
    c = fit_surrogate(X[:20], y[:20], ensemble=2, seed=6, steps=50).predict(X)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_holdout_rho_is_high_for_a_learnable_target_and_none_when_too_few():
    X, y = _nb201_table()
    held = holdout_rho(X[:60], y[:60], folds=3, ensemble=2, steps=150)
    assert held["n"] == 60 and held["folds"] == len(held["per_fold"]) == 3 and held["rho"] > 0.7
    assert held["rho"] == pytest.approx(np.mean(held["per_fold"]))
    assert holdout_rho(X[:5], y[:5])["rho"] is None  # a fold needs 3 points, and there must be 2 folds


class FixedPredictions(Surrogate):
    """A surrogate whose mean and std are given per candidate (the first feature is the candidate's index)."""

    def __init__(self, mean, std):
        self.mean, self.std = np.asarray(mean, float), np.asarray(std, float)

    def predict(self, X):
        idx = np.asarray(X)[:, 0].astype(int)
        return self.mean[idx], self.std[idx]


def test_propose_ranks_by_mean_or_by_the_upper_confidence_bound():
    surrogate = FixedPredictions(mean=[1.0, 3.0, 2.0, 0.0], std=[0.0, 0.1, 0.0, 5.0])
    cands = [(f"a{i}", [i]) for i in range(4)]
    assert [p["id"] for p in propose(surrogate, cands, 2)] == ["a1", "a2"]
    assert [p["id"] for p in propose(surrogate, cands, 2, kappa=1.0)] == ["a3", "a1"]
    best = propose(surrogate, cands, 1, kappa=1.0)[0]
    assert (best["mean"], best["std"], best["score"]) == (0.0, 5.0, 5.0)


@settings(max_examples=80, deadline=None)
@given(mean=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20), data=st.data())
def test_propose_never_returns_an_excluded_or_repeated_arch(mean, data):
    n = len(mean)
    exclude = data.draw(st.sets(st.sampled_from([f"a{i}" for i in range(n)])))
    k = data.draw(st.integers(1, n + 2))
    cands = [(f"a{i}", [i]) for i in range(n)] + [(f"a{i}", [i]) for i in range(n)]  # every key twice
    picked = propose(FixedPredictions(mean, [0.0] * n), cands, k, exclude=exclude)
    ids = [p["id"] for p in picked]
    assert not set(ids) & exclude and len(ids) == len(set(ids)) == min(k, n - len(exclude))
    scores = [p["score"] for p in picked]
    assert scores == sorted(scores, reverse=True)
    left = [m for i, m in enumerate(mean) if f"a{i}" not in exclude]
    assert sorted(scores, reverse=True) == sorted(left, reverse=True)[:len(ids)]


# ------------------------------------------------------------------------------------------------ the commands
def run(argv):
    out = io.StringIO()
    return main(argv, out=out), out.getvalue()


def one_line_error(capsys, code, *needles):
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("unnas: error: ") and "\n" not in err and "Traceback" not in err
    for needle in needles:
        assert needle in err


@pytest.fixture(scope="module")
def ranker_config(tmp_path_factory):
    """A study config with only training-free rankers, at C=4, N=1 on 8x8 inputs (every job well under a second)."""
    path = tmp_path_factory.mktemp("config") / "study.yaml"
    path.write_text(yaml.safe_dump({"rankers": {
        "space": {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": CHANNELS, "layers": LAYERS}},
        "input_shape": [3, 8, 8], "num_classes": CLASSES, "batch_size": 2}}))
    return str(path)


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory, ranker_config):
    """Six random table cells scored by params and macs: a study whose jobs are all done."""
    study = str(tmp_path_factory.mktemp("studies") / "base")
    assert run(["study", "init", study, "--archs", "nb201-table:6:1", "--tasks", "params,macs",
                "--config", ranker_config])[0] == 0
    assert run(["study", "work", study, "--threads", "1"])[0] == 0
    return study


@pytest.fixture
def study(finished_study, tmp_path):
    copy = str(tmp_path / "study")
    shutil.copytree(finished_study, copy)
    return copy


def _archs_per_task(study):
    jobs = {}
    for r in Store.open(study).results() + [{"arch": a, "task": t} for a, t in _open_jobs(study)]:
        jobs.setdefault(r["task"], set()).add(r["arch"])
    return jobs


def _open_jobs(study):
    import sqlite3

    con = sqlite3.connect(f"{study}/study.sqlite")
    try:
        return con.execute("SELECT arch, task FROM jobs WHERE status != 'done'").fetchall()
    finally:
        con.close()


def test_propose_adds_exactly_n_new_archs_for_every_objective(study):
    before = _archs_per_task(study)
    code, out = run(["study", "propose", study, "--objective", "params", "--n", "3", "--pool", "nb201-table", *FAST])
    assert code == 0
    after = _archs_per_task(study)
    assert set(after) == {"params", "macs"}
    new = after["params"] - before["params"]
    assert len(new) == 3 and after["macs"] - before["macs"] == new
    proposed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert set(proposed) == new and "± " in out and "added 6 jobs" in out
    lines = open(f"{study}/proposals/params-1.jsonl").read().splitlines()
    assert [json.loads(line)["id"] for line in lines] == proposed
    # a second proposal never repeats an architecture the study holds
    code, out = run(["study", "propose", study, "--objective", "params", "--n", "2", "--pool", "nb201-table", *FAST])
    assert code == 0 and len(_archs_per_task(study)["params"]) == len(after["params"]) + 2


def test_propose_without_finished_jobs_is_one_line(tmp_path, capsys, ranker_config):
    study = str(tmp_path / "fresh")
    code, _ = run(["study", "init", study, "--archs", "nb201-table:3", "--tasks", "params", "--config", ranker_config])
    assert code == 0
    code, _ = run(["study", "propose", study, "--objective", "params", "--pool", "nb201-table"])
    one_line_error(capsys, code, "no finished params jobs", "unnas study work")


@pytest.mark.parametrize("argv, needles", [
    (["--objective", "supervised"], ("no objective 'supervised'", "params, macs")),
    (["--n", "0"], ("--n must be at least 1",)),
    (["--kappa", "-1"], ("--kappa must be",)),
    (["--pool", "nb201-nope"], ("unknown architecture set 'nb201-nope'",)),
    (["--pool", "unnas500"], ("unknown architecture set 'unnas500'",)),  # another space's set
])
def test_bad_propose_arguments_are_one_line(study, capsys, argv, needles):
    args = {"--objective": "params", "--pool": "nb201-table"}
    args.update(dict(zip(argv[::2], argv[1::2])))
    code, _ = run(["study", "propose", study, *[x for kv in args.items() for x in kv]])
    one_line_error(capsys, code, *needles)


def test_search_beats_random_and_resumes_without_redoing_a_round(tmp_path, ranker_config):
    study = str(tmp_path / "search")
    assert run(["study", "init", study, "--archs", "nb201-table:6:1", "--tasks", "params",
                "--config", ranker_config])[0] == 0
    argv = ["study", "search", study, "--objective", "params", "--rounds", "2", "--per-round", "4",
            "--pool", "nb201-table", "--holdout-folds", "3", "--threads", "1", *FAST]
    code, out = run(argv)
    assert code == 0 and "round 2/2 done" in out
    record = json.load(open(f"{study}/search_rounds.json"))
    rounds = record["rounds"]
    assert [r["round"] for r in rounds] == [1, 2] and all(r["status"] == "done" for r in rounds)
    assert [r["n_train"] for r in rounds] == [6, 10] and rounds[1]["heldout"]["folds"] == 3
    ids = [[p["id"] for p in r["proposals"]] for r in rounds]
    assert len(set(ids[0] + ids[1])) == 8
    done = {r["arch"]: r["best_acc"] for r in Store.open(study).results()}
    assert set(done) >= set(ids[0] + ids[1]) and rounds[1]["measured"] == {a: done[a] for a in ids[1]}

    space = NB201Space(channels=CHANNELS, layers=LAYERS)
    pool = [c for _, c in space.arch_set("nb201-table")]
    rng = np.random.default_rng(0)
    random_params = [count_params(space.network(pool[i], num_classes=CLASSES))
                     for i in rng.choice(len(pool), 40, replace=False)]
    assert np.mean([done[a] for a in ids[1]]) > np.mean(random_params)

    n_jobs = sum(sum(c.values()) for c in Store.open(study).counts().values())
    code, out = run(argv)  # both rounds are done: nothing is proposed or trained again
    assert code == 0 and "round 1/2:" not in out
    assert sum(sum(c.values()) for c in Store.open(study).counts().values()) == n_jobs
    assert json.load(open(f"{study}/search_rounds.json")) == record


def test_search_refuses_other_settings_than_it_recorded(study, capsys):
    with open(f"{study}/search_rounds.json", "w") as f:
        json.dump({"objective": "params", "pool": "nb201-table", "per_round": 4, "kappa": 0.0, "seed": 0,
                   "ensemble": 3, "steps": 150, "rounds": []}, f)
    code, _ = run(["study", "search", study, "--objective", "params", "--rounds", "1", "--per-round", "5",
                   "--pool", "nb201-table", *FAST])
    one_line_error(capsys, code, "per_round 4 (given 5)", "search_rounds.json")
