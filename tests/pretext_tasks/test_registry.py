"""The objective registry, and a new objective as one file: a toy objective defined and registered here (outside
the package) is known by its name to ``unnas arch info``, ``unnas rank``, the ``unnas fit`` parser, ``unnas study init``,
the report's labels and the plots' colours."""

import io
import json
from typing import Optional

import pytest
import torch

import pretext_tasks
from pretext_tasks import (ObjectiveError, PretextTask, build_objective, default_objectives, objective_class,
                           objective_color, objective_label, objective_names, objectives, order_objectives, register)
from pretext_tasks.base import as_float_images, normalize
from pretext_tasks.heads import ClassifierHead
from pretext_tasks.registry import unregister

BUILTIN = ["supervised", "rotation", "colorization", "jigsaw", "random_labels", "contrastive"]


class Flip(PretextTask):
    """Predict whether the image was mirrored left-right (2 classes)."""

    name = "flip"
    label = "Flip"
    order = 50
    color = "#123456"
    num_classes = 2

    def head(self, in_channels: int):
        return ClassifierHead(in_channels, self.num_classes)

    def prepare(self, images, labels, *, train: bool, generator: Optional[torch.Generator] = None):
        x = normalize(as_float_images(images), self.norm_mean, self.norm_std)
        flipped = torch.rand(x.shape[0], generator=generator).to(x.device) < 0.5
        return torch.where(flipped.view(-1, 1, 1, 1), x.flip(-1), x), flipped.long()


@pytest.fixture
def flip():
    register(Flip)
    yield Flip
    unregister("flip")


# ------------------------------------------------------------------------------------------------ the registry
def test_the_builtin_objectives_are_registered_in_display_order():
    assert objective_names()[: len(BUILTIN)] == BUILTIN
    assert list(objectives())[: len(BUILTIN)] == BUILTIN
    assert all(issubclass(cls, PretextTask) and cls.name == name for name, cls in objectives().items())


def test_the_default_objectives_are_the_papers_four():
    assert default_objectives() == ["supervised", "rotation", "colorization", "jigsaw"]


def test_a_class_by_name_by_class_name_and_by_class_path():
    assert objective_class("rotation") is pretext_tasks.Rotation
    assert objective_class("Rotation") is pretext_tasks.Rotation
    assert objective_class("pretext_tasks.Rotation") is pretext_tasks.Rotation
    assert objective_class("pretext_tasks.rotation.Rotation") is pretext_tasks.Rotation
    assert objective_class(pretext_tasks.Jigsaw) is pretext_tasks.Jigsaw
    assert objective_class(f"{__name__}.Flip") is Flip  # an unregistered subclass by its class path


@pytest.mark.parametrize("spec, message", [
    ("rotatoin", "unknown objective 'rotatoin'"),
    ("nowhere_pkg.Task", "cannot import it"),
    ("torch.nn.Linear", "is not a subclass of pretext_tasks.PretextTask"),
    (".Rotation", "cannot import it"),
])
def test_an_unknown_objective_is_one_line_naming_the_known_ones(spec, message):
    with pytest.raises(ObjectiveError) as info:
        objective_class(spec)
    text = str(info.value)
    assert message in text and "\n" not in text
    assert all(name in text for name in BUILTIN) and "class path" in text


def test_two_classes_under_one_name_are_refused_and_the_same_class_twice_is_harmless(flip):
    assert register(Flip) is Flip
    other = type("OtherFlip", (Flip,), {"__module__": "elsewhere"})
    with pytest.raises(ValueError, match="two objectives are named 'flip'"):
        register(other)
    with pytest.raises(ValueError, match="two objectives are named 'rotation'"):
        register(type("Rotation2", (pretext_tasks.Rotation,), {"__module__": "elsewhere"}))
    assert objective_class("flip") is Flip and objective_class("rotation") is pretext_tasks.Rotation


def test_register_refuses_what_is_not_a_named_objective():
    with pytest.raises(TypeError):
        register(torch.nn.Linear)
    with pytest.raises(ValueError, match="needs a class attribute `name`"):
        register(type("Nameless", (PretextTask,), {}))


def test_build_objective_drops_what_the_class_does_not_take():
    sup = build_objective("supervised", num_classes=7, style="cifar", grid=3)
    assert isinstance(sup, pretext_tasks.Supervised) and sup.num_classes == 7
    rot = build_objective("rotation", num_classes=7, style="imagenet")
    assert isinstance(rot, pretext_tasks.Rotation) and rot.num_classes == 4 and rot.style == "imagenet"
    with pytest.raises(ObjectiveError):
        build_objective("nothing_of_the_kind")


def test_labels_order_and_colours_follow_the_classes(flip):
    assert objective_label("flip") == "Flip" and objective_label("synflow") == "synflow"
    assert order_objectives(["synflow", "flip", "jigsaw", "supervised", "flip"]) == ["supervised", "jigsaw", "flip",
                                                                                    "synflow"]
    assert objective_color("synflow") is None
    assert objective_names()[-1] == "flip" and "flip" not in default_objectives()


def test_the_statistics_live_in_their_own_module_and_keep_their_old_names():
    from pretext_tasks import base, stats
    from unnas.data import stats as data_stats

    for name in ("CIFAR_MEAN", "CIFAR_STD", "IMAGENET_MEAN", "IMAGENET_STD", "IMAGENET_EIGVAL", "IMAGENET_EIGVEC",
                 "LIGHTING_STD", "default_stats"):
        assert getattr(base, name) is getattr(stats, name) is getattr(data_stats, name)
    assert stats.default_stats("imagenet", None, None) == (stats.IMAGENET_MEAN, stats.IMAGENET_STD)
    with pytest.raises(ValueError, match="style must be"):
        stats.default_stats("mnist", None, None)


# ------------------------------------------------------------------------------------------------ one file is enough
def _unnas(*argv):
    from unnas.cli import main

    out = io.StringIO()
    code = main(list(argv), out=out, stdin=io.StringIO(""))
    return code, out.getvalue()


TINY_NB201 = ["nb201_resnet", "--channels", "4", "--layers", "1"]


def test_a_registered_objective_is_measured_by_arch_info(flip):
    code, out = _unnas("arch", "info", *TINY_NB201, "--objective", "flip", "--json")
    row = json.loads(out)
    assert code == 0 and row["objective"] == "flip" and row["num_classes"] == 2
    _, supervised = _unnas("arch", "info", *TINY_NB201, "--json")
    assert row["params"] < json.loads(supervised)["params"]  # a 2-way head instead of the 10-way classifier


def test_a_registered_objective_is_named_in_the_help_of_arch_info_and_rank(flip, capsys):
    from unnas.cli import main

    for command in (["arch", "info"], ["rank"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        assert "flip" in " ".join(capsys.readouterr().out.split())


def test_a_registered_objective_is_scored_by_rank(flip):
    code, out = _unnas("rank", *TINY_NB201, "--batch", "4", "--rankers", "snip,params", "--objective", "flip",
                       "--json")
    row = json.loads(out)
    assert code == 0 and row["snip"] is not None and row["snip"] > 0
    _, labels = _unnas("rank", *TINY_NB201, "--batch", "4", "--rankers", "params", "--json")
    assert row["params"] < json.loads(labels)["params"]


def test_a_registered_objective_is_taken_by_the_fit_parser(flip):
    from unnas.lightning_cli import run

    space = {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}}
    model = {"class_path": "unnas.modules.ArchTraining",
             "init_args": {"genotype": "nb201_resnet", "precise_bn_samples": 0, "space": space}}
    data = {"source": {"class_path": "unnas.data.Generated",
                       "init_args": {"train_size": 8, "test_size": 8, "size": 32, "num_classes": 4}},
            "batch_size": 4}
    config = json.dumps({"trainer": {"logger": False, "accelerator": "cpu", "devices": 1}, "model": model,
                         "data": data})
    cli = run(["--config", config, "--model.init_args.objective=flip"], run=False)
    assert type(cli.model.objective) is Flip


def test_a_registered_objective_is_a_study_objective(flip, tmp_path):
    import os

    import yaml

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    overlay = tmp_path / "flip.yaml"
    overlay.write_text("model:\n  init_args:\n    objective: flip\n")
    study_config = tmp_path / "study.yaml"
    base = os.path.join(root, "configs", "study", "nb201_cifar10_cpu", "base.yaml")
    study_config.write_text(yaml.safe_dump({"tasks": {"flip": [base, str(overlay)]}}))
    directory = tmp_path / "study"
    code, _ = _unnas("study", "init", str(directory), "--archs", "nb201-sample:2", "--objectives", "flip",
                     "--config", str(study_config), "--set", "trainer.max_epochs=1")
    assert code == 0
    frozen = yaml.safe_load((directory / "configs" / "flip.yaml").read_text())
    assert frozen["model"]["init_args"]["objective"] == "flip"
    from unnas.study.store import Store

    assert Store.open(str(directory)).counts() == {"flip": {"pending": 2}}


def test_a_registered_objective_has_its_label_in_the_report_and_its_colour_in_the_plots(flip, tmp_path):
    from unnas.study.plots import task_color
    from unnas.study.report import build_report

    records = [{"arch": f"nb201/{i:05d}", "task": task, "seed": 1, "best_acc": 0.5 + 0.01 * i * sign}
               for i in range(8) for task, sign in (("supervised", 1), ("flip", -1))]
    build_report(records, str(tmp_path), n_boot=5, figures=False)
    report = (tmp_path / "report.md").read_text()
    assert "Flip" in report
    assert task_color("flip", ["supervised", "flip", "synflow"]) == "#123456"
    assert task_color("synflow", ["supervised", "flip", "synflow"]) != "#123456"
