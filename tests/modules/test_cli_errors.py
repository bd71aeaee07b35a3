"""What a user sees when something is wrong: one line naming the problem and the fix, exit status 2."""

import pytest

from conftest import TASKS, generated, write_config
from unnas.cli import main


def _train_model(task="rotation", **kw):
    return {"class_path": "unnas.modules.ArchTraining",
            "init_args": {"task": TASKS[task], "genotype": "darts_v2", "space": {"class_path": "unnas.spaces.DartsSpace", "init_args": {"channels": 4, "layers": 3}}, **kw}}


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no error printed"
    last = err[-1]
    assert last.startswith("unnas: error:"), err
    for f in fragments:
        assert f in last
    return last


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
    cfg = write_config(in_tmp, _train_model(genotype="darts_v7"), {"source": generated(), "batch_size": 8})
    assert main(["fit", "-c", cfg]) == 2
    _one_line_error(capsys, "darts_v7", "unnas arch list")


def test_nan_loss_stops_with_advice(in_tmp, capsys):
    cfg = write_config(in_tmp, _train_model("supervised", lr=1.0e30, momentum=0.0, nesterov=False),
                       {"source": generated(), "batch_size": 8}, max_epochs=3)
    assert main(["fit", "-c", cfg]) == 2
    _one_line_error(capsys, "loss is", "lower the learning rate")


def test_config_typo_names_the_key(in_tmp, capsys):
    cfg = write_config(in_tmp, _train_model(), {"source": generated(), "batch_sise": 8})
    with pytest.raises(SystemExit) as e:
        main(["fit", "-c", cfg])
    assert e.value.code != 0
    assert "batch_sise" in capsys.readouterr().err
