"""``unnas fit`` takes an objective by its registered name wherever it takes one: on the command line
(``--model.init_args.objective=rotation``, ``--model.objective rotation``), in YAML (``task: rotation``, ``class_path:
rotation``) and in config objects (a study worker's); a bad name is one line naming the known objectives."""

import io

import pytest
import yaml

import pretext_tasks
from pretext_tasks import ObjectiveError
from unnas.cli import main
from unnas.lightning_cli import run
from unnas.objective_args import rewrite_argv, rewrite_config

SPACE = {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}}


def _config(task=None) -> dict:
    init = {"arch": "nb201_resnet", "space": SPACE, "precise_bn_samples": 0}
    if task is not None:
        init["objective"] = task
    return {"trainer": {"logger": False, "accelerator": "cpu", "devices": 1, "enable_progress_bar": False},
            "model": {"class_path": "unnas.modules.ArchTraining", "init_args": init},
            "data": {"source": {"class_path": "unnas.data.Generated",
                                "init_args": {"train_size": 8, "test_size": 8, "size": 32, "num_classes": 4}},
                     "batch_size": 4}}


@pytest.fixture
def config_file(tmp_path):
    def write(task=None, name="cfg.yaml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(_config(task), sort_keys=False))
        return str(path)
    return write


def _task(cli):
    return type(cli.model.objective)


@pytest.mark.parametrize("name", ["supervised", "rotation", "jigsaw", "random_labels"])
def test_a_registered_name_on_the_command_line_is_its_class(config_file, name):
    expected = pretext_tasks.objective_class(name)
    assert _task(run(["-c", config_file(), f"--model.init_args.objective={name}"], run=False)) is expected
    assert _task(run(["-c", config_file(), "--model.objective", name], run=False)) is expected


def test_a_name_is_followed_by_the_objectives_own_arguments(config_file):
    cli = run(["-c", config_file(), "--model.objective=random_labels", "--model.objective.num_classes=3"], run=False)
    assert _task(cli) is pretext_tasks.RandomLabels and cli.model.objective.num_classes == 3


@pytest.mark.parametrize("task", ["jigsaw", {"class_path": "jigsaw", "init_args": {"gray_prob": 0.0}}])
def test_a_registered_name_in_a_config_file_is_its_class(config_file, task):
    cli = run(["-c", config_file(task)], run=False)
    assert _task(cli) is pretext_tasks.Jigsaw
    if isinstance(task, dict):
        assert cli.model.objective.gray_prob == 0.0


def test_a_registered_name_in_a_config_object_is_its_class():
    assert _task(run(_config("colorization"), run=False)) is pretext_tasks.Colorization


def test_class_names_and_class_paths_still_work(config_file):
    assert _task(run(["-c", config_file("Rotation")], run=False)) is pretext_tasks.Rotation
    assert _task(run(["-c", config_file("pretext_tasks.Jigsaw")], run=False)) is pretext_tasks.Jigsaw


@pytest.mark.parametrize("where", ["argv", "file"])
def test_a_bad_name_is_one_line_naming_the_known_objectives(config_file, capsys, where):
    argv = (["fit", "-c", config_file(), "--model.init_args.objective=rotatoin"] if where == "argv"
            else ["fit", "-c", config_file("rotatoin")])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("unnas: error: model.init_args.objective: unknown objective")
    assert "'rotatoin'" in err and all(name in err for name in pretext_tasks.objective_names())


def test_the_rewrite_covers_both_keys_and_leaves_everything_else():
    rot = "pretext_tasks.rotation.Rotation"
    assert rewrite_argv(["fit", "--model.objective=rotation", "--model.init_args.objective", "rotation",
                         "--model.objective.class_path=rotation", "--trainer.max_epochs=1", "--model.lr", "rotation"]) == [
        "fit", f"--model.objective={rot}", "--model.init_args.objective", rot, f"--model.objective.class_path={rot}",
        "--trainer.max_epochs=1", "--model.lr", "rotation"]
    cfg = {"model": {"init_args": {"objective": "rotation", "genotype": "rotation"}},
           "other": [{"task": {"class_path": "rotation"}}, {"class_path": "lightning.Foo", "task": None}]}
    assert rewrite_config(cfg) == {
        "model": {"init_args": {"objective": rot, "genotype": "rotation"}},
        "other": [{"task": {"class_path": rot}}, {"class_path": "lightning.Foo", "task": None}]}
    for kept in ("Rotation", "pretext_tasks.Rotation", "task.yaml", "{class_path: rotation}"):
        assert rewrite_argv([f"--model.objective={kept}"]) == [f"--model.objective={kept}"]
    with pytest.raises(ObjectiveError, match="model.objective: unknown objective 'rotatoin'"):
        rewrite_config({"model": {"objective": "rotatoin"}})


def test_the_saved_config_names_the_class(config_file, tmp_path):
    cli = run(["-c", config_file("rotation")], run=False)
    out = io.StringIO(cli.parser.dump(cli.config))
    assert yaml.safe_load(out)["model"]["init_args"]["objective"]["class_path"] == "pretext_tasks.rotation.Rotation"
