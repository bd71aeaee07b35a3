"""`unnas study init | add` build every training config as a job would (the parser of `unnas fit`) and open the
data of `--data-root` before anything is written: a typo in `--set`, a value `unnas fit` refuses, or a data root
without the data set is one line naming the key or folder, and no study folder is left behind."""

import io
import os

import pytest
import yaml
from PIL import Image

from unnas.cli import main
from unnas.study.store import Store

from test_study_e2e import study_config, tiny_training_config  # noqa: F401 - the tiny two-objective study config

from study_helpers import assert_one_line

CLASSES = ("cat", "dog")


def run(argv):
    out = io.StringIO()
    return main(argv, out=out), out.getvalue()




def image_folder(root, per_class: int = 2) -> str:
    """An ImageFolder data set: ``train/`` and ``val/``, one folder of tiny PNGs per class."""
    for split in ("train", "val"):
        for c in CLASSES:
            os.makedirs(os.path.join(root, split, c), exist_ok=True)
            for i in range(per_class):
                Image.new("RGB", (16, 16), (40 * i, 90, 200)).save(os.path.join(root, split, c, f"{i}.png"))
    return str(root)


@pytest.fixture
def folder_config(tmp_path):
    """A study config whose objectives read an ImageFolder (root: a placeholder --data-root replaces)."""
    tasks = {"supervised": {"class_path": "pretext_tasks.Supervised", "init_args": {"num_classes": len(CLASSES)}},
             "rotation": {"class_path": "pretext_tasks.Rotation"}}
    for name, task in tasks.items():
        cfg = tiny_training_config(task)
        cfg["data"] = {"source": {"class_path": "unnas.data.ImageFolder", "init_args": {"root": "nowhere"}},
                       "batch_size": 2}
        (tmp_path / f"folder_{name}.yaml").write_text(yaml.safe_dump(cfg))
    path = tmp_path / "folder_study.yaml"
    path.write_text(yaml.safe_dump({"tasks": {n: f"folder_{n}.yaml" for n in tasks}}))
    return str(path)


def init(study, config, *extra):
    return run(["study", "init", study, "--archs", "sample:2:1", "--tasks", "supervised,rotation", "--seeds", "1",
                "--config", config, *extra])


@pytest.mark.parametrize("setting, needles", [
    ("trainer.max_epoch=1", ("--set trainer.max_epoch=1", "did you mean --trainer.max_epochs?")),
    ("model.init_args.weight_decai=0.1", ("--set model.init_args.weight_decai=0.1", "weight_decay")),
    ("trainer.max_epochs=0", ("--set trainer.max_epochs=0", "must be an integer >= 1")),
    ("data.batch_size=nope", ("--set data.batch_size=nope",)),
])
def test_a_set_that_unnas_fit_refuses_is_one_line_and_leaves_no_folder(tmp_path, capsys, study_config,  # noqa: F811
                                                                       setting, needles):
    study = str(tmp_path / "s")
    assert_one_line(capsys, init(study, study_config, "--set", setting)[0], *needles, "Nothing was created")
    assert not os.path.exists(study)


def test_a_data_root_without_the_data_set_is_one_line_and_leaves_no_folder(tmp_path, capsys, folder_config):
    study, empty = str(tmp_path / "s"), tmp_path / "empty"
    empty.mkdir()
    assert_one_line(capsys, init(study, folder_config, "--data-root", str(empty))[0],
                   f"--data-root {empty}", "does not exist", "pass the folder that holds the data set")
    assert not os.path.exists(study)
    (empty / "train" / "cat").mkdir(parents=True)  # a class folder without images
    assert_one_line(capsys, init(study, folder_config, "--data-root", str(empty))[0], f"--data-root {empty}",
                   "holds no images")
    assert not os.path.exists(study)


def test_a_data_root_with_the_data_set_is_frozen_into_every_config(tmp_path, folder_config):
    study, data = str(tmp_path / "s"), image_folder(tmp_path / "data")
    code, out = init(study, folder_config, "--data-root", data, "--set", "trainer.max_epochs=2")
    assert code == 0 and "4 jobs" in out
    for task in ("supervised", "rotation"):
        frozen = yaml.safe_load(open(os.path.join(study, "configs", f"{task}.yaml")))
        assert frozen["data"]["source"]["init_args"]["root"] == data and frozen["trainer"]["max_epochs"] == 2


def test_a_data_root_for_a_source_that_reads_no_folder_is_one_line(tmp_path, capsys, study_config):  # noqa: F811
    study = str(tmp_path / "s")
    assert_one_line(capsys, init(study, study_config, "--data-root", str(tmp_path))[0],
                   f"--data-root {tmp_path}", "unnas.data.Generated", "reads no folder", "leave --data-root out")
    assert not os.path.exists(study)


def test_a_labelled_objective_on_a_data_set_of_another_class_count_is_refused(tmp_path, capsys, folder_config):
    cfg = yaml.safe_load((tmp_path / "folder_supervised.yaml").read_text())
    cfg["model"]["init_args"]["task"]["init_args"]["num_classes"] = 10
    (tmp_path / "folder_supervised.yaml").write_text(yaml.safe_dump(cfg))
    study = str(tmp_path / "s")
    assert_one_line(capsys, init(study, folder_config, "--data-root", image_folder(tmp_path / "data"))[0],
                   "--data-root", "predicts 10 classes", "has 2")
    assert not os.path.exists(study)


def test_an_existing_folder_stays_as_it_was_when_init_refuses(tmp_path, capsys, study_config):  # noqa: F811
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert_one_line(capsys, init(str(folder), study_config, "--set", "trainer.max_epoch=1")[0], "max_epochs")
    assert sorted(os.listdir(folder)) == ["notes.txt"]


def test_add_checks_the_recipe_of_a_new_objective(tmp_path, capsys, study_config):  # noqa: F811
    study = str(tmp_path / "s")
    assert run(["study", "init", study, "--archs", "sample:2:1", "--tasks", "supervised", "--config", study_config,
                "--set", "trainer.max_epochs=1"])[0] == 0
    cfg = yaml.safe_load((tmp_path / "rotation.yaml").read_text())
    cfg["trainer"]["max_epoch"] = 1  # a typo in the recipe itself
    (tmp_path / "rotation.yaml").write_text(yaml.safe_dump(cfg))
    assert_one_line(capsys, run(["study", "add", study, "--objectives", "rotation"])[0], "the rotation config of",
                   "did you mean --trainer.max_epochs?")
    assert Store.open(study).meta()["tasks"] == ["supervised"]
    assert not os.path.exists(os.path.join(study, "configs", "rotation.yaml"))
