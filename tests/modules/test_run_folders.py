"""A search's CSV run folder names its strategy (DARTS first order, the default, keeps the config's name), so runs
of two strategies under one config land apart; a name that already says the strategy is kept."""

import json
import os

import pytest

from unnas.lightning_cli import run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _csv_name(*args, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cli = run(["-c", "configs/search/cifar10_rotation_cpu.yaml", *args, "--trainer.accelerator=cpu"], run=False)
    return next(logger.name for logger in cli.trainer.loggers if type(logger).__name__ == "CSVLogger")


@pytest.mark.parametrize("overlay, name", [
    (None, "search_cifar10_rotation_cpu"),
    ("gdas", "search_cifar10_rotation_cpu_gdas"),
    ("pcdarts", "search_cifar10_rotation_cpu_pcdarts"),
    ("rsws", "search_cifar10_rotation_cpu_rsws"),
])
def test_the_run_folder_names_the_search_strategy(overlay, name, monkeypatch):
    extra = ["-c", f"configs/search/strategies/{overlay}.yaml"] if overlay else []
    assert _csv_name(*extra, monkeypatch=monkeypatch) == name


def test_a_folder_name_that_says_the_strategy_is_kept(monkeypatch):
    logger = [{"class_path": "lightning.pytorch.loggers.CSVLogger",
               "init_args": {"save_dir": "runs", "name": "gdas_supervised_seed1"}}]
    assert _csv_name("-c", "configs/search/strategies/gdas.yaml", f"--trainer.logger={json.dumps(logger)}",
                     monkeypatch=monkeypatch) == "gdas_supervised_seed1"
