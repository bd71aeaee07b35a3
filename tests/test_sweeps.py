"""Every W&B sweep file validates offline: schema, drawn runs, the agent's command, and that command parses."""

import glob
import io
import os
import sys
import warnings

import pytest
import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import sweeps
    from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

from unnas.cli import build_parser

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


def draw_all(config, limit=200):
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
    assert sweeps.schema_violations_from_proposed_config(config) == []
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
            assert (ns.arch, ns.task, ns.seed) == (run.config["arch"]["value"], run.config["task"]["value"],
                                                   int(run.config["seed"]["value"]))
        else:
            from unnas.lightning_cli import run as lightning_run

            with pytest.raises(SystemExit) as e:
                lightning_run(cli_args + ["--print_config"])
            assert e.value.code in (0, None)
            printed = yaml.safe_load(capsys.readouterr().out)
            task = yaml.safe_load(open(run.config["model.init_args.task"]["value"]))
            assert printed["model"]["init_args"]["task"]["class_path"] == task["class_path"]
            assert printed["seed_everything"] == run.config["seed_everything"]["value"]


def test_a_broken_sweep_is_caught():
    bad = {"method": "bayesian", "parameters": {"x": {"min": 3, "max": 2}}}
    assert sweeps.schema_violations_from_proposed_config(bad)
