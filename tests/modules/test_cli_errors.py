"""What a user sees when something is wrong: one line naming the problem and the fix, exit status 2."""

import pytest

from conftest import TASKS, generated, write_config
from unnas.cli import main

SPACE = {"class_path": "unnas.spaces.DartsSpace", "init_args": {"channels": 4, "layers": 3}}


def _train_model(task="rotation", **kw):
    return {"class_path": "unnas.modules.ArchTraining",
            "init_args": {"objective": TASKS[task], "arch": "darts_v2", "space": SPACE, **kw}}


def _search_model(task="rotation", **kw):
    return {"class_path": "unnas.modules.WeightSharingSearch", "init_args": {"objective": TASKS[task], "space": SPACE, **kw}}


def _one_line_error(capsys, *fragments):
    """stderr is at most 3 lines and the first one is ``unnas: error: ...`` holding every fragment."""
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no error printed"
    assert len(err) <= 3, err
    first = err[0]
    assert first.startswith("unnas: error:"), err
    for f in fragments:
        assert f in first, first
    return first


def test_missing_dataset_folder(in_tmp, capsys):
    cfg = write_config(in_tmp, _train_model(), {"source": {"class_path": "unnas.data.CIFAR10",
                                                           "init_args": {"root": str(in_tmp / "no_cifar")}}})
    assert main(["fit", "-c", cfg]) == 2
    _one_line_error(capsys, str(in_tmp / "no_cifar"), "download")


def test_supervised_objective_on_unlabelled_images(in_tmp, capsys):
    cfg = write_config(in_tmp, _train_model("supervised"), {"source": generated(labelled=False), "batch_size": 8})
    assert main(["fit", "-c", cfg]) == 2
    _one_line_error(capsys, "needs labels", "pretext objective")


def test_unknown_genotype_in_a_config(in_tmp, capsys):
    cfg = write_config(in_tmp, _train_model(arch="darts_v7"), {"source": generated(), "batch_size": 8})
    assert main(["fit", "-c", cfg]) == 2
    _one_line_error(capsys, "darts_v7", "unnas arch list")


def test_nan_loss_stops_with_advice(in_tmp, capsys):
    cfg = write_config(in_tmp, _train_model("supervised", lr=1.0e30, momentum=0.0, nesterov=False),
                       {"source": generated(), "batch_size": 8}, max_epochs=3)
    assert main(["fit", "-c", cfg]) == 2
    _one_line_error(capsys, "loss is", "lower the learning rate")


def test_config_file_typo_names_the_key_and_the_nearest_one(in_tmp, capsys):
    cfg = write_config(in_tmp, _train_model(), {"source": generated(), "batch_sise": 8})
    assert main(["fit", "-c", cfg]) == 2
    _one_line_error(capsys, "batch_sise", "did you mean --data.batch_size?")


@pytest.mark.parametrize("args, fragments", [
    (["--model.init_args.arch_lrr=0.1"], ["arch_lrr", "did you mean --model.init_args.arch_lr?"]),
    (["--data.batch_sise=8"], ["--data.batch_sise", "did you mean --data.batch_size?"]),
    (["--trainer.max_epohcs=3"], ["--trainer.max_epohcs", "did you mean --trainer.max_epochs?"]),
    (["--trainer.max_epoch=3"], ["--trainer.max_epoch", "did you mean --trainer.max_epochs?"]),
    (["--model.init_args.lr=fast"], ["model.init_args.lr", "fast", "float"]),
    (["--model.class_path=unnas.modules.DartSearch"],
     ["unnas.modules.DartSearch", "did you mean unnas.modules.DartsSearch?"]),
], ids=["key_typo_in_a_class", "key_typo", "trainer_key_typo", "abbreviated_key", "wrong_type", "unknown_class_path"])
def test_command_line_mistakes_are_one_line(in_tmp, capsys, args, fragments):
    cfg = write_config(in_tmp, _search_model(), {"source": generated(), "batch_size": 8, "train_portion": 0.5})
    assert main(["fit", "-c", cfg, *args]) == 2
    _one_line_error(capsys, *fragments)


def test_malformed_yaml_is_one_line(in_tmp, capsys):
    bad = in_tmp / "bad.yaml"
    bad.write_text("trainer:\n  max_epochs: [1\nmodel: {}\n")
    assert main(["fit", "-c", str(bad)]) == 2
    _one_line_error(capsys, "bad.yaml", "line")


def test_missing_config_file_is_one_line(in_tmp, capsys):
    assert main(["fit", "-c", str(in_tmp / "nowhere.yaml")]) == 2
    _one_line_error(capsys, "nowhere.yaml", "does not exist")


@pytest.mark.parametrize("arg, fragments", [
    ("--trainer.max_epochs=-5", ["trainer.max_epochs=-5"]),
    ("--trainer.max_epochs=0", ["trainer.max_epochs=0"]),
    ("--trainer.max_steps=-3", ["trainer.max_steps=-3"]),
    ("--trainer.limit_train_batches=0", ["trainer.limit_train_batches=0"]),
    ("--trainer.accumulate_grad_batches=0", ["trainer.accumulate_grad_batches=0"]),
    ("--trainer.devices=0", ["devices", "not a valid input"]),
    ("--model.init_args.lr=0", ["lr=0", "model.init_args.lr"]),
    ("--model.init_args.lr=.nan", ["lr=nan"]),
    ("--model.init_args.weight_decay=-1", ["weight_decay=-1"]),
    ("--model.init_args.warmup_epochs=-1", ["warmup_epochs=-1"]),
    ("--model.init_args.momentum=1.5", ["momentum=1.5"]),
    ("--model.init_args.space.init_args.channels=0", ["channels"]),
])
def test_impossible_training_settings_are_one_line(in_tmp, capsys, arg, fragments):
    cfg = write_config(in_tmp, _train_model(), {"source": generated(), "batch_size": 8})
    assert main(["fit", "-c", cfg, arg]) == 2
    _one_line_error(capsys, *fragments)


@pytest.mark.parametrize("arg, fragments", [
    ("--model.init_args.arch_lr=-0.1", ["arch_lr=-0.1"]),
    ("--model.init_args.grad_clip=-1", ["grad_clip=-1"]),
    ("--model.init_args.arch_start_epoch=-1", ["arch_start_epoch=-1"]),
    ("--model.init_args.arch_betas=[0.5, 1.5]", ["arch_betas"]),
])
def test_impossible_search_settings_are_one_line(in_tmp, capsys, arg, fragments):
    cfg = write_config(in_tmp, _search_model(), {"source": generated(), "batch_size": 8, "train_portion": 0.5})
    assert main(["fit", "-c", cfg, arg]) == 2
    _one_line_error(capsys, *fragments)


def _nan_when_evaluating(monkeypatch, task_class):
    """The objective's loss is NaN in evaluation passes only (no gradients), finite in training."""
    import torch

    loss = task_class.loss

    def patched(self, logits, targets):
        value = loss(self, logits, targets)
        return value if torch.is_grad_enabled() else value * float("nan")

    monkeypatch.setattr(task_class, "loss", patched)


def test_nan_held_out_loss_stops_a_search_without_a_genotype(in_tmp, capsys, monkeypatch):
    from pretext_tasks import Rotation

    _nan_when_evaluating(monkeypatch, Rotation)
    cfg = write_config(in_tmp, _search_model(), {"source": generated(), "batch_size": 8, "train_portion": 0.5},
                       name="nan_search", limit_train_batches=1, limit_val_batches=1)
    assert main(["fit", "-c", cfg]) == 2
    _one_line_error(capsys, "held-out loss is nan")
    run = in_tmp / "runs" / "nan_search" / "version_0"
    assert not (run / "genotype.json").exists() and not (run / "genotypes").exists()


def test_nan_held_out_loss_stops_a_training_without_a_result(in_tmp, capsys, monkeypatch):
    from pretext_tasks import Rotation

    _nan_when_evaluating(monkeypatch, Rotation)
    cfg = write_config(in_tmp, _train_model(precise_bn_samples=0), {"source": generated(), "batch_size": 8},
                       name="nan_train", limit_train_batches=1, limit_val_batches=1)
    assert main(["fit", "-c", cfg]) == 2
    _one_line_error(capsys, "held-out loss is nan")
    assert not (in_tmp / "runs" / "nan_train" / "version_0" / "result.json").exists()
