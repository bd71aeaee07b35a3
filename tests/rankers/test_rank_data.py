"""``unnas rank --data`` (real images) and ``--objective`` (any pretext task): the batch, the loss and the errors."""

import io
import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import pretext_tasks
from pretext_tasks.base import CIFAR_MEAN, CIFAR_STD, PretextTask
from unnas.cli import main
from unnas.cli.rank import rank_batches
from unnas.data import ImageFolder
from unnas.rankers import data_batch, image_batch
from unnas.spaces import NB201Space
from pretext_tasks.heads import ClassifierHead

TINY = ["nb201_resnet", "--channels", "4", "--layers", "1", "--json"]
LOSS_RANKERS = "grad_norm,snip,grasp,fisher"


def _tree(root, classes=("a", "b", "c"), per_class=3, size=32, seed=0):
    """root/<class>/<i>.png: random RGB images."""
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def _rank(*argv, stdin=None):
    out = io.StringIO()
    assert main(["rank", *argv], out=out, stdin=stdin) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _error(capsys, *argv):
    capsys.readouterr()
    assert main(["rank", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("unnas: error: "), err
    return err


@pytest.fixture()
def data(tmp_path):
    return _tree(tmp_path / "ds" / "train")


def test_the_data_batch_is_the_seeded_images_normalised_with_the_datasets_labels(data):
    spec = NB201Space.datasets["cifar10"]
    batches = rank_batches(None, spec, 5, 3, classes=3, data=str(data.parent))
    from torchvision.transforms import ToTensor

    expected = image_batch(ImageFolder(str(data.parent)).dataset("train", ToTensor()), 5, 3)
    mean, std = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    assert torch.allclose(batches.net.images, (expected.images - mean) / std, atol=1e-6)
    assert torch.equal(batches.net.labels, expected.labels) and set(expected.labels.tolist()) <= {0, 1, 2}
    assert batches.loss is batches.net
    study = data_batch(ImageFolder(str(data.parent)), (3, 32, 32), 5, 3)  # a study's ranker job scores the same batch
    assert torch.equal(study.images, batches.net.images) and torch.equal(study.labels, batches.net.labels)
    other = rank_batches(None, spec, 5, 4, classes=3, data=str(data.parent))
    assert not torch.equal(other.net.images, batches.net.images)  # the seed picks the images


def test_images_are_resized_to_the_input_size_and_pretext_objectives_get_their_inputs(tmp_path):
    root = _tree(tmp_path / "big", size=40)
    spec = NB201Space.datasets["imagenet16-120"]  # 16x16 inputs
    plain = rank_batches(None, spec, 4, 0, classes=3, data=str(root))
    assert plain.net.images.shape == (4, 3, 16, 16)
    rot = rank_batches(pretext_tasks.Rotation(), spec, 4, 0, classes=3, data=str(root))
    assert rot.loss.images.shape == (4, 3, 16, 16) and 0 <= rot.loss.images.min() and rot.loss.images.max() <= 1
    assert rot.net.images.shape == (16, 3, 16, 16) and torch.equal(rot.net.labels, torch.arange(4).repeat(4))
    color = rank_batches(pretext_tasks.Colorization(), spec, 4, 0, classes=3, data=str(root))
    assert color.net.images.shape == (4, 1, 16, 16) and color.net.labels.shape == (4, 16, 16)
    jig = rank_batches(pretext_tasks.Jigsaw(), NB201Space.datasets["cifar10"], 4, 0, classes=3, data=str(root))
    assert jig.net.images.shape == (4, 4, 3, 12, 12)


def test_data_folder_with_train_inside_and_the_class_folder_root_give_the_same_scores(data):
    a = _rank(*TINY, "--batch", "4", "--rankers", "naswot,snip", "--data", str(data.parent))
    b = _rank(*TINY, "--batch", "4", "--rankers", "naswot,snip", "--data", str(data))
    gaussian = _rank(*TINY, "--batch", "4", "--rankers", "naswot,snip")
    assert a == b
    assert a[0]["snip"] != gaussian[0]["snip"] and a[0]["naswot"] != gaussian[0]["naswot"]


def test_loss_rankers_differ_between_labels_and_rotation_and_are_deterministic(data):
    runs = {obj: [_rank(*TINY, "--batch", "4", "--rankers", LOSS_RANKERS, "--objective", obj, "--data", str(data))[0]
                  for _ in range(2)] for obj in ("labels", "rotation")}
    for obj, (first, second) in runs.items():
        assert first == second, obj
    for name in LOSS_RANKERS.split(","):
        assert runs["labels"][0][name] != runs["rotation"][0][name], name
        assert runs["labels"][0][name] is not None and runs["rotation"][0][name] is not None


OBJECTIVES = ["labels", *pretext_tasks.objective_names(), "pretext_tasks.Jigsaw"]


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("with_data", [True, False])
def test_every_objective_runs_snip_on_a_tiny_nb201_network(data, objective, with_data):
    extra = ["--data", str(data)] if with_data else []
    row = _rank(*TINY, "--batch", "4", "--rankers", "snip,params", "--objective", objective, *extra)[0]
    assert row["snip"] is not None and row["snip"] > 0
    if objective == "colorization":  # a 1-channel stem and a 313-bin dense head: not the classifier's size
        labels = _rank(*TINY, "--batch", "4", "--rankers", "params", *extra)[0]
        assert row["params"] != labels["params"]


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_ranker_runs_under_every_objective(objective):
    from unnas.rankers import RANKERS

    # gradsign needs a per-sample loss and refuses contrastive's batch-level one (tests/rankers/test_gradsign.py)
    names = [n for n in RANKERS if not (n == "gradsign" and objective == "contrastive")]
    row = _rank(*TINY, "--batch", "4", "--rankers", ",".join(names), "--objective", objective)[0]
    assert set(row) == {"genotype", *names}
    assert all(row[name] is not None for name in names if name != "naswot")  # naswot: -inf on a singular kernel
    assert row["synflow"] > 0 and row["params"] > 0 and row["macs"] > 0


def test_the_objectives_are_the_registered_ones_and_the_help_names_them(capsys):
    shipped = {"supervised", "rotation", "colorization", "jigsaw", "random_labels", "contrastive"}
    assert shipped <= set(pretext_tasks.objective_names())
    with pytest.raises(SystemExit):
        main(["rank", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in pretext_tasks.objective_names())


class PixelsOnly(PretextTask):
    """A task that refuses images outside [0, 1] (as one that reads real pixel values would)."""

    name = "pixels_only"
    num_classes = 2

    def head(self, in_channels):
        return ClassifierHead(in_channels, self.num_classes)

    def prepare(self, images, labels, *, train, generator=None):
        if images.min() < 0 or images.max() > 1:
            raise ValueError("pixel values outside [0, 1]")
        return images, (images.mean(dim=(1, 2, 3)) > 0.5).long()


def test_a_class_path_objective_runs_on_data_and_refuses_the_gaussian_batch_in_one_line(data, capsys):
    path = f"{__name__}.PixelsOnly"
    row = _rank(*TINY, "--batch", "4", "--rankers", "snip", "--objective", path, "--data", str(data))[0]
    assert row["snip"] > 0
    err = _error(capsys, *TINY, "--batch", "4", "--rankers", "snip", "--objective", path)
    assert "pixels_only" in err and "Gaussian" in err and "--data" in err


def test_bad_objective_is_one_line_naming_the_known_ones(capsys):
    err = _error(capsys, *TINY, "--objective", "rotaton")
    assert all(name in err for name in ["labels", *pretext_tasks.objective_names()]) and "class path" in err
    assert "cannot import" in _error(capsys, *TINY, "--objective", "nowhere_pkg.Task")
    assert "not a subclass of pretext_tasks.PretextTask" in _error(capsys, *TINY, "--objective", "unnas.cli.main")


def test_bad_data_is_one_line(tmp_path, data, capsys):
    assert "does not exist" in _error(capsys, *TINY, "--data", str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    assert "no class folders" in _error(capsys, *TINY, "--data", str(tmp_path / "empty"))
    (tmp_path / "noimg" / "a").mkdir(parents=True)
    assert "holds no images" in _error(capsys, *TINY, "--data", str(tmp_path / "noimg"))
    err = _error(capsys, *TINY, "--batch", "10", "--data", str(data))
    assert "--batch 10 is larger than the 9 images" in err and "lower --batch" in err
    bad = _tree(tmp_path / "bad", classes=("a",), per_class=2)
    (bad / "a" / "0.png").write_bytes(b"not a png")
    _tree(bad, classes=("b",), per_class=2)
    err = _error(capsys, *TINY, "--batch", "4", "--data", str(bad))
    assert "cannot read image" in err and "0.png" in err
    one = _tree(tmp_path / "one", classes=("a",), per_class=4)
    assert "needs at least 2 classes" in _error(capsys, *TINY, "--batch", "2", "--rankers", "snip", "--data", str(one))
    # a label-free objective needs no classes
    assert _rank(*TINY, "--batch", "2", "--rankers", "snip", "--objective", "rotation", "--data", str(one))


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_leaves_the_output_unchanged(monkeypatch):
    argv = ["rank", "nb201_resnet", "nb201_all_skip", "--channels", "4", "--layers", "1", "--batch", "2",
            "--rankers", "params", "--json"]
    plain_out = io.StringIO()
    assert main(argv, out=plain_out) == 0
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    out = io.StringIO()
    assert main(argv, out=out) == 0
    assert out.getvalue() == plain_out.getvalue()
    assert "2/2" in terminal.getvalue() and "rank: 1 scored" not in terminal.getvalue()
