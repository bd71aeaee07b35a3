"""Renamed module arguments and classes: configs and checkpoints written with the old names keep loading.

``DartsSearch`` -> ``WeightSharingSearch``; ``task`` -> ``objective`` (both modules); the search module's
``strategy`` -> ``search_strategy``; ``ArchTraining``'s ``genotype`` -> ``arch``. Old and new names mix across
``-c`` overlays and the command line; giving both names of one argument is one line naming the fix.
"""

import os

import pytest
import torch
import yaml

from conftest import TASKS, generated, write_config
from pretext_tasks import Jigsaw, Rotation, Supervised
from unnas.cli import main
from unnas.errors import ConfigError
from unnas.lightning_cli import run
from unnas.modules import ArchTraining, DartsSearch, WeightSharingSearch
from unnas.modules.strategies import GDAS, FirstOrder, SecondOrder
from unnas.spaces import DartsSpace

SPACE = {"class_path": "unnas.spaces.DartsSpace", "init_args": {"channels": 4, "layers": 3}}
SEARCH_DATA = {"source": generated(train_size=16, test_size=8), "batch_size": 8, "train_portion": 0.5}
TRAIN_DATA = {"source": generated(train_size=16, test_size=8), "batch_size": 8}


@pytest.fixture(autouse=True)
def _no_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")


def _overlay(tmp_path, name, init_args):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"model": {"init_args": init_args}}))
    return str(path)


# ------------------------------------------------------------------------------------------------ the search class
def test_the_old_class_name_is_the_search_module():
    import unnas.modules.search

    assert DartsSearch is WeightSharingSearch and unnas.modules.search.DartsSearch is WeightSharingSearch


@pytest.mark.parametrize("class_path", ["unnas.modules.DartsSearch", "unnas.modules.search.DartsSearch"])
def test_an_old_search_config_loads(in_tmp, class_path):
    model = {"class_path": class_path,
             "init_args": {"task": TASKS["rotation"], "space": SPACE, "strategy": {"class_path": "GDAS"}}}
    cli = run(["-c", write_config(in_tmp, model, SEARCH_DATA)], run=False)
    assert type(cli.model) is WeightSharingSearch
    assert isinstance(cli.model.objective, Rotation) and cli.model.task is cli.model.objective
    assert isinstance(cli.model.search_strategy, GDAS)
    assert cli.model.supernet._op_weights_rule == cli.model.search_strategy.op_weights


def test_a_new_search_config_loads(in_tmp):
    model = {"class_path": "unnas.modules.WeightSharingSearch",
             "init_args": {"objective": TASKS["jigsaw"], "space": SPACE, "search_strategy": {"class_path": "GDAS"}}}
    cli = run(["-c", write_config(in_tmp, model, SEARCH_DATA)], run=False)
    assert isinstance(cli.model.objective, Jigsaw) and isinstance(cli.model.search_strategy, GDAS)


@pytest.mark.parametrize("base_keys, extra", [
    (("task", "strategy"), ["--model.init_args.search_strategy=SecondOrder"]),
    (("objective", "search_strategy"), ["--model.init_args.strategy=SecondOrder",
                                        "--model.init_args.search_strategy=null"]),
    (("task", None), ["--model.init_args.search_strategy=SecondOrder"]),
    (("objective", None), ["--model.init_args.strategy=SecondOrder"]),
], ids=["old_config_new_option", "new_config_old_option", "old_objective_new_option", "new_objective_old_option"])
def test_old_and_new_names_mix_across_config_and_command_line(in_tmp, base_keys, extra):
    objective_key, strategy_key = base_keys
    init = {objective_key: TASKS["supervised"], "space": SPACE}
    if strategy_key is not None:
        init[strategy_key] = {"class_path": "FirstOrder"}
    if strategy_key == "strategy":  # an old config with a strategy, replaced under the new name on the command line
        extra = ["--model.init_args.strategy=null", *extra]
    cfg = write_config(in_tmp, {"class_path": "unnas.modules.DartsSearch", "init_args": init}, SEARCH_DATA)
    cli = run(["-c", cfg, *extra], run=False)
    assert isinstance(cli.model.objective, Supervised) and type(cli.model.search_strategy) is SecondOrder


def test_an_old_base_config_takes_a_new_overlay(in_tmp):
    base = write_config(in_tmp, {"class_path": "unnas.modules.DartsSearch",
                                 "init_args": {"task": TASKS["rotation"], "space": SPACE}}, SEARCH_DATA)
    overlay = _overlay(in_tmp, "gdas", {"search_strategy": {"class_path": "GDAS", "init_args": {"tau_min": 0.5}}})
    cli = run(["-c", base, "-c", overlay], run=False)
    assert isinstance(cli.model.objective, Rotation) and cli.model.search_strategy.tau_min == 0.5


def test_a_new_base_config_takes_an_old_overlay(in_tmp):
    base = write_config(in_tmp, {"class_path": "unnas.modules.WeightSharingSearch",
                                 "init_args": {"objective": TASKS["rotation"], "space": SPACE}}, SEARCH_DATA)
    overlay = _overlay(in_tmp, "gdas", {"strategy": {"class_path": "GDAS", "init_args": {"tau_min": 0.5}}})
    cli = run(["-c", base, "-c", overlay], run=False)
    assert isinstance(cli.model.search_strategy, GDAS) and cli.model.search_strategy.tau_min == 0.5


@pytest.mark.parametrize("init, fragments", [
    ({"task": TASKS["rotation"], "objective": TASKS["jigsaw"]}, ["both objective and its old name task",
                                                                 "model.init_args.task: null"]),
    ({"objective": TASKS["rotation"], "strategy": {"class_path": "GDAS"}, "search_strategy": {"class_path": "GDAS"}},
     ["both search_strategy and its old name strategy"]),
    ({}, ["needs an objective", "model.init_args.objective"]),
], ids=["objective_twice", "strategy_twice", "no_objective"])
def test_both_names_or_none_is_one_line(in_tmp, capsys, init, fragments):
    cfg = write_config(in_tmp, {"class_path": "unnas.modules.WeightSharingSearch",
                                "init_args": {**init, "space": SPACE}}, SEARCH_DATA)
    assert main(["fit", "-c", cfg]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and len(err) <= 3 and err[0].startswith("unnas: error:"), err
    assert all(f in err[0] for f in fragments), err[0]


def test_the_search_module_takes_the_old_keywords_in_python():
    space = DartsSpace(channels=4, layers=3)
    model = WeightSharingSearch(task=Supervised(num_classes=4), space=space, strategy=SecondOrder())
    assert isinstance(model.objective, Supervised) and type(model.search_strategy) is SecondOrder
    assert type(WeightSharingSearch(Supervised(num_classes=4), space=space).search_strategy) is FirstOrder
    with pytest.raises(ConfigError, match="^WeightSharingSearch got both objective and its old name task;"):
        WeightSharingSearch(Supervised(num_classes=4), space=space, task=Supervised(num_classes=4))
    hparams = dict(model.hparams)
    assert not {"objective", "task", "search_strategy", "strategy", "space", "ground_truth"} & set(hparams)


# ------------------------------------------------------------------------------------------------ training
def _train_config(tmp_path, **init):
    model = {"class_path": "unnas.modules.ArchTraining",
             "init_args": {"space": SPACE, "precise_bn_samples": 0, **init}}
    return write_config(tmp_path, model, TRAIN_DATA, name="train", limit_train_batches=1, limit_val_batches=1)


@pytest.mark.parametrize("keys", [("task", "genotype"), ("objective", "arch"), ("task", "arch"), ("objective", "genotype")])
def test_training_configs_load_with_either_name(in_tmp, keys):
    objective_key, arch_key = keys
    cli = run(["-c", _train_config(in_tmp, **{objective_key: TASKS["rotation"], arch_key: "darts_v1"})], run=False)
    model = cli.model
    assert isinstance(model.objective, Rotation) and model.task is model.objective
    assert model.arch == DartsSpace().load("darts_v1") and model.genotype is model.arch
    assert model.hparams[arch_key] == "darts_v1"  # the arguments as given
    assert model.arch_label() == "darts_v1"


def test_training_without_an_arch_trains_darts_v2(in_tmp):
    cli = run(["-c", _train_config(in_tmp, objective=TASKS["rotation"])], run=False)
    assert cli.model.arch == DartsSpace().load("darts_v2") and cli.model.arch_label() == "darts_v2"


def test_training_takes_the_new_arch_option_over_an_old_config(in_tmp):
    cfg = _train_config(in_tmp, task=TASKS["rotation"], genotype="darts_v1")
    cli = run(["-c", cfg, "--model.init_args.genotype=null", "--model.init_args.arch=darts_v2"], run=False)
    assert cli.model.arch == DartsSpace().load("darts_v2") and cli.model.arch_label() == "darts_v2"


def test_arch_and_genotype_together_are_one_line(in_tmp, capsys):
    cfg = _train_config(in_tmp, objective=TASKS["rotation"], arch="darts_v1", genotype="darts_v2")
    assert main(["fit", "-c", cfg]) == 2
    first = capsys.readouterr().err.strip().splitlines()[0]
    assert "ArchTraining got both arch and its old name genotype" in first and "model.init_args.genotype: null" in first


def test_a_run_from_an_old_config_resumes_from_its_saved_config(in_tmp):
    """LightningCLI saves the resolved config (old names included) with the run; it loads again and resumes."""
    cfg = _train_config(in_tmp, task=TASKS["rotation"], genotype="darts_v1")
    torch.manual_seed(0)
    assert main(["fit", "-c", cfg]) == 0
    run_dir = in_tmp / "runs" / "train" / "version_0"
    saved = run_dir / "lightning_config.yaml"
    init = yaml.safe_load(saved.read_text())["model"]["init_args"]
    assert init["genotype"] == "darts_v1" and init.get("arch") is None
    hparams = yaml.safe_load((run_dir / "hparams.yaml").read_text())
    assert hparams["genotype"] == "darts_v1" and hparams.get("arch") is None
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert main(["fit", "-c", str(saved), "--trainer.max_epochs=2", f"--ckpt_path={ckpt}"]) == 0


def test_checkpoint_hyperparameters_load_under_either_name(tmp_path):
    """``load_from_checkpoint`` builds the module from the saved hyperparameters: new checkpoints hold ``arch``,
    older ones only ``genotype``."""
    space = DartsSpace(channels=4, layers=3)
    model = ArchTraining(Supervised(num_classes=4), arch="darts_v1", space=space, precise_bn_samples=0)
    for name, hparams in (("new", dict(model.hparams)), ("old", {**{k: v for k, v in model.hparams.items()
                                                                   if k != "arch"}, "genotype": "darts_v1"})):
        path = tmp_path / f"{name}.ckpt"
        torch.save({"state_dict": model.state_dict(), "hyper_parameters": hparams,
                    "pytorch-lightning_version": "2.0.0"}, path)
        loaded = ArchTraining.load_from_checkpoint(str(path), objective=Supervised(num_classes=4), space=space)
        assert loaded.arch == model.arch and loaded.arch_label() == "darts_v1"
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


RECORDED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs",
                        "results", "nb201-strategies", "searches")


@pytest.mark.parametrize("run_name", ["pcdarts_rotation_seed1", "gdas_supervised_seed1"])
def test_a_recorded_search_config_still_builds_its_module(in_tmp, run_name):
    path = os.path.join(RECORDED, run_name, "version_0", "lightning_config.yaml")
    if not os.path.isfile(path):
        pytest.skip(f"{path} is not in this checkout")
    with open(path) as f:
        model = yaml.safe_load(f)["model"]
    assert model["class_path"] == "unnas.modules.DartsSearch" and {"task", "strategy"} <= set(model["init_args"])
    cli = run(["-c", write_config(in_tmp, model, SEARCH_DATA)], run=False)
    assert type(cli.model) is WeightSharingSearch
    assert type(cli.model.search_strategy).__name__ == model["init_args"]["strategy"]["class_path"].rsplit(".", 1)[-1]
    assert cli.model.objective.name == run_name.split("_")[1]
