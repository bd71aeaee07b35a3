"""``unnas fit`` settings recorded with a run: torch threads, W&B run names and tags."""

import os

import pytest
import torch
import yaml

from conftest import TASKS, generated, write_config
from unnas.cli import main
from unnas.lightning_cli import run

SPACE = {"class_path": "unnas.spaces.DartsSpace", "init_args": {"channels": 4, "layers": 3}}
WANDB = {"class_path": "lightning.pytorch.loggers.WandbLogger", "init_args": {"project": "unnas", "offline": True}}


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _train(**kw):
    return {"class_path": "unnas.modules.ArchTraining",
            "init_args": {"objective": TASKS["rotation"], "arch": "darts_v2", "space": SPACE, "precise_bn_samples": 0,
                          **kw}}


def _data():
    return {"source": generated(train_size=16, test_size=8), "batch_size": 8}


def _on_three_cores(in_tmp, monkeypatch, name):
    """A one-batch training config on a process that may use 3 cores, and the list that receives the torch thread
    count at the start of training."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    during = []
    monkeypatch.setattr("unnas.modules.ArchTraining.on_train_start",
                        lambda self: during.append(torch.get_num_threads()))
    cfg = write_config(in_tmp, _train(), _data(), name=name, threads=None, limit_train_batches=1,
                       limit_val_batches=1)
    return cfg, during


def test_fit_uses_the_usable_cores_prints_it_once_and_records_it(in_tmp, capsys, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cfg, during = _on_three_cores(in_tmp, monkeypatch, "threads")
    assert main(["fit", "-c", cfg]) == 0
    assert during == [3]
    out = capsys.readouterr().out
    assert out.count("unnas: torch threads: 3 (set with --threads or OMP_NUM_THREADS)") == 1
    run_dir = in_tmp / "runs" / "threads" / "version_0"
    assert yaml.safe_load((run_dir / "lightning_config.yaml").read_text())["threads"] == 3
    assert yaml.safe_load((run_dir / "hparams.yaml").read_text())["threads"] == 3


@pytest.mark.parametrize("env, expected", [("1", 1), ("2", 2), ("0", 3), ("four", 3), ("", 3), ("²", 3)])
def test_fit_takes_its_default_threads_from_omp_num_threads_when_it_is_a_positive_integer(
        in_tmp, capsys, monkeypatch, env, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", env)
    cfg, during = _on_three_cores(in_tmp, monkeypatch, "omp")
    assert main(["fit", "-c", cfg]) == 0
    assert during == [expected]
    assert f"unnas: torch threads: {expected} " in capsys.readouterr().out
    # --threads still wins over the variable
    during.clear()
    assert main(["fit", "-c", cfg, "--threads=4"]) == 0
    assert during == [4]


def test_threads_setting_is_applied_before_the_model_is_built(in_tmp, capsys, monkeypatch):
    import unnas.modules.train as train

    built = []
    resolve = train.resolve_space

    def record(*args, **kwargs):  # called by ArchTraining's constructor
        built.append(torch.get_num_threads())
        return resolve(*args, **kwargs)

    monkeypatch.setattr(train, "resolve_space", record)
    cli = run(["-c", write_config(in_tmp, _train(), _data(), threads=None), "--threads=2"], run=False)
    assert built == [2] and cli.config.threads == 2
    assert "unnas: torch threads: 2" in capsys.readouterr().out


def test_library_callers_keep_their_thread_count_and_record_it(in_tmp):
    torch.set_num_threads(1)
    cli = run(["-c", write_config(in_tmp, _train(), _data(), threads=None)], run=False)
    assert torch.get_num_threads() == 1 and cli.config.threads == 1


def test_zero_threads_is_one_line(in_tmp, capsys):
    assert main(["fit", "-c", write_config(in_tmp, _train(), _data()), "--threads=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("unnas: error:") and "threads=0" in err[0]


def _wandb(cli):
    (logger,) = [lg for lg in cli.trainer.loggers if type(lg).__name__ == "WandbLogger"]
    return logger._wandb_init


def _with_wandb(in_tmp, model, data, **logger_args):
    wandb = {**WANDB, "init_args": {**WANDB["init_args"], "save_dir": str(in_tmp / "runs"), **logger_args}}
    return write_config(in_tmp, model, data, logger=[wandb])


def test_training_runs_are_named_after_space_objective_arch_and_seed(in_tmp):
    cli = run(["-c", _with_wandb(in_tmp, _train(), _data()), "--seed_everything=3"], run=False)
    init = _wandb(cli)
    assert init["name"] == "darts-rotation-darts_v2-seed3"
    assert {"space:darts", "objective:rotation", "arch:darts_v2", "seed:3"} <= set(init["tags"])
    assert cli.config.trainer.logger[0].init_args.name == "darts-rotation-darts_v2-seed3"  # saved with the run


def test_search_runs_and_unnamed_architectures(in_tmp):
    search = {"class_path": "unnas.modules.WeightSharingSearch", "init_args": {"objective": TASKS["jigsaw"], "space": SPACE}}
    cli = run(["-c", _with_wandb(in_tmp, search, {**_data(), "train_portion": 0.5})], run=False)
    assert _wandb(cli)["name"] == "darts-jigsaw-search-first_order-seed0"
    assert "strategy:first_order" in _wandb(cli)["tags"]
    gdas = {**search, "init_args": {**search["init_args"], "search_strategy": {"class_path": "GDAS"}}}
    cli = run(["-c", _with_wandb(in_tmp, gdas, {**_data(), "train_portion": 0.5})], run=False)
    assert _wandb(cli)["name"] == "darts-jigsaw-search-gdas-seed0" and "strategy:gdas" in _wandb(cli)["tags"]
    notation = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|skip_connect~2|"
    names = []
    for arch in (notation, notation.replace("avg_pool_3x3~0", "nor_conv_3x3~0")):
        model = _train(arch=arch, space=None)
        names.append(_wandb(run(["-c", _with_wandb(in_tmp, model, _data())], run=False))["name"])
    assert names[0].startswith("nb201-rotation-") and names[0].endswith("-seed0")
    assert len(names[0].split("-")[2]) == 8 and names[0] != names[1]


def test_a_name_the_user_set_is_kept(in_tmp):
    cli = run(["-c", _with_wandb(in_tmp, _train(), _data(), name="mine")], run=False)
    assert _wandb(cli)["name"] == "mine"
