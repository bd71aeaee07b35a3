"""Search and training reach a space only through the seam: NAS-Bench-201 under the same modules as DARTS, and
searches scored against ground truth as they run."""

import csv
import json
import os

import pytest

from pretext_tasks import Supervised
from unnas.errors import ConfigError
from unnas.lightning_cli import run
from unnas.modules import ArchTraining, WeightSharingSearch
from unnas.spaces import NB201Space
from unnas.spaces.base import GroundTruth

from conftest import TASKS, generated, write_config


class FixedTruth(GroundTruth):
    """Ground truth that knows exactly one cell (its accuracy is 77.5) and no other."""

    space = "nb201"
    datasets = ("cifar10",)

    def __init__(self, known: str):
        self.known = known

    def query(self, arch, dataset=None):
        return 77.5 if str(arch) == self.known else None

    def coverage(self):
        return "a one-cell test table"


def test_training_recognises_the_space_of_the_genotype():
    model = ArchTraining(Supervised(num_classes=4), arch="nb201_resnet", precise_bn_samples=0)
    assert isinstance(model.space, NB201Space) and str(model.genotype).startswith("|nor_conv_3x3~0|")
    assert type(model.net).__name__ == "TinyNetwork"
    with pytest.raises(ConfigError, match="nb201 space's networks have no drop path; set drop_path_prob: 0"):
        ArchTraining(Supervised(num_classes=4), arch="nb201_resnet", drop_path_prob=0.2)


def test_label_smoothing_is_refused_for_an_objective_with_its_own_loss():
    from pretext_tasks import Contrastive

    space = NB201Space(channels=4, layers=1)
    with pytest.raises(ConfigError, match="Contrastive has a loss of its own; set label_smoothing: 0"):
        ArchTraining(Contrastive(), arch="nb201_resnet", space=space, label_smoothing=0.1)
    ArchTraining(Contrastive(), arch="nb201_resnet", space=space)  # its own loss, unsmoothed
    model = ArchTraining(Supervised(num_classes=4), arch="nb201_resnet", space=space, label_smoothing=0.1)
    assert model.hparams.label_smoothing == 0.1


def test_search_on_nb201_derives_per_edge_argmax_and_defaults_to_the_table():
    import torch

    from unnas.spaces.nb201 import PRIMITIVES, parse_cell
    from unnas.spaces.nb201.benchmark import NB201Table

    model = WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=4, layers=1), arch_lr=0.01)
    assert type(model.supernet).__name__ == "NB201Supernet" and isinstance(model.ground_truth, NB201Table)
    assert model.ground_truth.dataset == "cifar10"
    expected = parse_cell("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|")
    (alphas,) = model.supernet.arch_parameters()
    with torch.no_grad():
        alphas.zero_()
        for edge, op in enumerate(expected):
            alphas[edge, PRIMITIVES.index(op)] = 1.0
    assert model.genotype() == expected


@pytest.mark.parametrize("task", ["supervised", "jigsaw"])
def test_nb201_search_through_the_cli_writes_true_accuracy_per_epoch(task, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    model = {"class_path": "unnas.modules.WeightSharingSearch",
             "init_args": {"objective": TASKS[task],
                           "space": {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}},
                           "arch_lr": 0.01}}
    data = {"source": generated(train_size=32, test_size=16), "batch_size": 8, "train_portion": 0.5}
    cfg = write_config(tmp_path, model, data, max_epochs=2, name="nb")
    cli = run(["fit", "-c", cfg])
    out = cli.trainer.logger.log_dir
    with open(os.path.join(out, "alphas.json")) as f:
        alphas = json.load(f)
    assert alphas["space"] == "nb201" and len(alphas["epochs"]) == 2
    truth = cli.model.ground_truth  # the space's default: the embedded NAS-Bench-201 table
    for entry in alphas["epochs"]:
        assert len(entry["cell"]) == 6 and len(entry["cell"][0]) == 5
        cell = NB201Space().from_dict(entry["genotype"])
        assert entry["true_acc"] == truth.query(cell)
    with open(os.path.join(out, "metrics.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r.get("gt/acc")]
    assert len(rows) == 2
    for r, entry in zip(rows, alphas["epochs"]):
        expected = entry["true_acc"]
        assert (r["gt/acc"] == "nan") if expected is None else float(r["gt/acc"]) == pytest.approx(expected)
    for name in ("true_accuracy.png", "alphas_evolution.png", "cells/epoch_001.png", "alphas/epoch_001.png"):
        assert os.path.getsize(os.path.join(out, name)) > 1000
    final = NB201Space().load(os.path.join(out, "genotype.json"))
    assert final == NB201Space().from_dict(alphas["epochs"][-1]["genotype"])


def test_search_logs_the_ground_truth_it_is_given(tmp_path, monkeypatch):
    """A known cell's accuracy reaches metrics.csv exactly (the table cannot be relied on to hold a derived cell)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    model = {"class_path": "unnas.modules.WeightSharingSearch",
             "init_args": {"objective": TASKS["supervised"], "arch_lr": 0.0,
                           "space": {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}}}}
    data = {"source": generated(train_size=16, test_size=8), "batch_size": 8, "train_portion": 0.5}
    cli = run(["-c", write_config(tmp_path, model, data, max_epochs=1, name="gt")], run=False)
    cli.model.ground_truth = FixedTruth(str(cli.model.genotype()))
    cli.trainer.fit(cli.model, cli.datamodule)
    with open(os.path.join(cli.trainer.logger.log_dir, "metrics.csv")) as f:
        values = [float(r["gt/acc"]) for r in csv.DictReader(f) if r.get("gt/acc")]
    assert values == [77.5]


def test_second_order_steps_the_nb201_alphas():
    import torch

    from unnas.modules.strategies import SecondOrder

    torch.manual_seed(0)
    net = NB201Space(channels=4, layers=1).supernet(num_classes=4).double()
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(4, 3, 16, 16, dtype=torch.float64), torch.randint(0, 4, (4,))
    loss = SecondOrder().arch_gradients(net, torch.nn.functional.cross_entropy, (x, y), (x.flip(0), y.flip(0)), w_opt)
    (alphas,) = net.arch_parameters()
    assert torch.isfinite(loss) and alphas.grad is not None and alphas.grad.shape == (6, 5)
    assert alphas.grad.abs().sum() > 0
