"""Every W&B sweep file validates offline: schema, drawn runs, the agent's command, and that command parses."""

import glob
import itertools
import io
import os
import sys
import warnings

import pytest
import yaml

from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

# W&B's sweep engine (`pip install sweeps`) pins numpy < 2, so it is not a test dependency: the tests below expand
# the grid themselves and check the schema's rules for grid sweeps; with the engine installed they also use it.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        import sweeps
    except ImportError:
        sweeps = None
if not hasattr(sweeps, "schema_violations_from_proposed_config"):  # the repository's sweeps/ folder, not the engine
    sweeps = None

from unnas.cli import build_parser, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEPS = sorted(glob.glob(os.path.join(ROOT, "sweeps", "*.yaml")))


def agent_command(config, run):
    """The argv a `wandb agent` would execute for *run*, built with wandb's own helpers."""
    args = create_sweep_command_args({"args": run.config})["args"]
    command = []
    for chunk in create_sweep_command(list(config["command"])):
        if chunk == "${args}":
            command += args
        elif chunk == "${env}":
            command.append("/usr/bin/env")
        elif chunk == "${interpreter}":
            command.append(sys.executable)
        elif chunk == "${program}":
            command.append(config["program"])
        else:
            command.append(str(chunk))
    return command


class GridRun:
    def __init__(self, values):
        self.config = {k: {"value": v} for k, v in values.items()}


def schema_violations(config):
    """W&B's schema check when its engine is installed, else the rules a grid sweep file must follow."""
    if sweeps is not None:
        return sweeps.schema_violations_from_proposed_config(config)
    problems = []
    if config.get("method") != "grid":
        problems.append(f"method {config.get('method')!r} is not grid")
    params = config.get("parameters")
    if not isinstance(params, dict) or not params:
        problems.append("no parameters")
    for name, p in (params or {}).items():
        if not isinstance(p, dict) or not (isinstance(p.get("values"), list) and p["values"]) and "value" not in p:
            problems.append(f"parameter {name} has neither a non-empty values list nor a value")
    if not isinstance(config.get("command"), list) or "${args}" not in config["command"]:
        problems.append("command is not a list holding ${args}")
    return problems


def draw_all(config, limit=200):
    if sweeps is None:  # a grid sweep runs the Cartesian product of the parameters' values
        names = list(config["parameters"])
        values = [config["parameters"][n].get("values", [config["parameters"][n].get("value")]) for n in names]
        return [GridRun(dict(zip(names, combo))) for combo in itertools.product(*values)][:limit]
    runs = []
    while len(runs) < limit:
        run = sweeps.next_run(config, runs)
        if run is None:
            break
        run.state = sweeps.RunState.finished
        runs.append(run)
    return runs


def test_there_are_sweeps_for_search_and_study():
    names = {os.path.basename(s) for s in SWEEPS}
    assert {"search_objectives.yaml", "study_cifar10_cpu.yaml"} <= names


@pytest.mark.parametrize("path", SWEEPS, ids=[os.path.basename(s) for s in SWEEPS])
def test_sweep_file_validates_and_its_commands_parse(path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    config = yaml.safe_load(open(path))
    assert schema_violations(config) == []
    runs = draw_all(config)
    grid = 1
    for p in config["parameters"].values():
        grid *= len(p.get("values", [p.get("value")]))
    assert len(runs) == grid and len({tuple(sorted((k, str(v["value"])) for k, v in r.config.items())) for r in runs}) == grid
    for run in runs[:: max(1, len(runs) // 6)]:
        argv = agent_command(config, run)
        assert argv[2:4] == ["-m", "unnas"]
        cli_args = argv[4:]
        if cli_args[0] == "study":
            ns = build_parser().parse_args(cli_args)
            assert (ns.arch, ns.objective, ns.seed) == (run.config["arch"]["value"], run.config["task"]["value"],
                                                   int(run.config["seed"]["value"]))
        else:
            from unnas.lightning_cli import run as lightning_run

            with pytest.raises(SystemExit) as e:
                lightning_run(cli_args + ["--print_config"])
            assert e.value.code in (0, None)
            printed = yaml.safe_load(capsys.readouterr().out)
            objective = yaml.safe_load(open(run.config["config"]["value"]))
            assert printed["model"]["init_args"]["objective"]["class_path"] == objective["model"]["init_args"]["objective"]["class_path"]
            assert [lg["init_args"].get("name") for lg in printed["trainer"]["logger"]] == [
                lg["init_args"].get("name") for lg in objective["trainer"]["logger"]]
            assert printed["seed_everything"] == run.config["seed_everything"]["value"]
            assert printed["data"]["source"]["init_args"]["root"] == run.config["data.source.init_args.root"]["value"]


def test_each_search_objective_logs_under_its_own_name():
    config = yaml.safe_load(open(os.path.join(ROOT, "sweeps", "search_objectives.yaml")))
    names = {}
    for path in config["parameters"]["config"]["values"]:
        objective = yaml.safe_load(open(os.path.join(ROOT, path)))
        task = objective["model"]["init_args"]["objective"]["class_path"].rsplit(".", 1)[-1].lower()
        loggers = {lg["init_args"]["name"] for lg in objective["trainer"]["logger"] if "CSVLogger" in lg["class_path"]}
        # W&B runs are named by the run itself (space, objective, seed), not by the file
        assert all("name" not in lg["init_args"] for lg in objective["trainer"]["logger"] if "Wandb" in lg["class_path"])
        assert len(loggers) == 1 and task in next(iter(loggers))
        names[task] = loggers.pop()
    assert len(set(names.values())) == len(names) == 4
    assert "data.source.init_args.root" in config["parameters"]  # the data root is the sweep's own setting


def make_study(directory, archs, tasks, seeds):
    from unnas.study.store import Store

    return Store.create(str(directory), [(f"arch{i}", "{}") for i in range(archs)], tasks, seeds,
                        meta={"space": "darts", "tasks": tasks, "seeds": seeds})


def test_a_large_study_is_split_into_full_grids_over_architecture_chunks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_study(tmp_path / "s", 7, ["supervised", "rotation"], [1, 2])
    out = io.StringIO()
    assert main(["study", "sweep", "s", "--out", "sweep.yaml", "--max-runs-per-sweep", "10"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[:4] == [f"wrote sweep_part0{i}.yaml: {n} runs" for i, n in ((1, 8), (2, 8), (3, 8), (4, 4))]
    assert "28 runs in 4 sweeps of at most 10 runs" in lines[4]
    assert not os.path.exists("sweep.yaml")
    jobs, parser = [], build_parser()
    for i in range(1, 5):
        config = yaml.safe_load(open(f"sweep_part0{i}.yaml"))
        assert schema_violations(config) == []
        runs = draw_all(config)
        assert len(runs) <= 10
        for run in runs:
            ns = parser.parse_args(agent_command(config, run)[4:])
            jobs.append((ns.dir, ns.arch, ns.objective, ns.seed))
    assert sorted(jobs) == sorted(("s", f"arch{a}", t, s) for a in range(7) for t in ("supervised", "rotation")
                                  for s in (1, 2))


def test_a_study_within_the_limit_stays_one_sweep(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_study(tmp_path / "s", 3, ["rotation"], [1])
    out = io.StringIO()
    assert main(["study", "sweep", "s", "--out", "sweep.yaml"], out=out) == 0
    assert out.getvalue() == "wrote sweep.yaml: 3 runs\n"
    assert len(draw_all(yaml.safe_load(open("sweep.yaml")))) == 3


def test_a_sweep_limit_below_one_architecture_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_study(tmp_path / "s", 3, ["supervised", "rotation"], [1, 2, 3])
    assert main(["study", "sweep", "s", "--out", "sweep.yaml", "--max-runs-per-sweep", "5"]) == 2
    err = capsys.readouterr().err
    assert "below the 6 runs one architecture needs" in err and len(err.strip().splitlines()) == 1


def test_a_broken_sweep_is_caught():
    bad = {"method": "bayesian", "parameters": {"x": {"min": 3, "max": 2}}}
    assert schema_violations(bad)
    assert schema_violations({"method": "grid", "parameters": {"x": {}}, "command": ["${args}"]})
