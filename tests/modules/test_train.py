"""Architecture training through Lightning and the CLI."""

from unnas.spaces import DartsSpace
import csv
import json

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything

from conftest import TASKS, CrashAtSecondEpoch, generated, write_config
from pretext_tasks import Supervised
from unnas.cli import main
from unnas.data import Generated, ImageDataModule
from unnas.modules import ArchTraining
from unnas.modules.common import recompute_bn_stats
from unnas.modules.train import cutout


def tiny(space=None, **kw):
    return ArchTraining(Supervised(num_classes=4), arch="darts_v2", space=space or DartsSpace(channels=4, layers=3),
                        precise_bn_samples=16, **kw)


def fit(tmp_path, model, epochs=2, **data):
    dm = ImageDataModule(Generated(train_size=32, test_size=16), batch_size=8, **data)
    t = Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                num_sanity_val_steps=0, default_root_dir=str(tmp_path))
    t.fit(model, dm)
    return t


def test_training_reports_best_epoch_accuracy(tmp_path):
    seed_everything(0)
    model = tiny()
    fit(tmp_path, model, epochs=3)
    result = json.loads((tmp_path / "result.json").read_text())
    assert 0.0 <= result["best_acc"] <= 1.0 and result["best_epoch"] in (0, 1, 2)
    assert result["params"] == sum(p.numel() for p in model.net.parameters())
    assert result["macs"] > 0 and result["task"] == "supervised"
    assert result["best_acc"] == model.best_acc


@pytest.mark.parametrize("task", sorted(TASKS))
def test_each_objective_trains_through_the_cli(in_tmp, task):
    cfg = write_config(in_tmp, {"class_path": "unnas.modules.ArchTraining",
                                "init_args": {"objective": TASKS[task], "arch": "unnas500/00004", "space": {"class_path": "unnas.spaces.DartsSpace", "init_args": {"channels": 4, "layers": 3}},
                                              "precise_bn_samples": 8}},
                       {"source": generated(), "batch_size": 8}, name=f"train_{task}", limit_train_batches=2,
                       limit_val_batches=1)
    assert main(["fit", "-c", cfg]) == 0
    run = in_tmp / "runs" / f"train_{task}" / "version_0"
    result = json.loads((run / "result.json").read_text())
    assert result["task"] == task and 0.0 <= result["best_acc"] <= 1.0
    assert result["machine"]["cpu"] and result["threads"] >= 1  # what the result reproduces on
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert any(r.get("val/acc") for r in rows) and any(r.get("train/loss") for r in rows)
    ckpt = run / "checkpoints" / "last.ckpt"
    assert ckpt.exists()
    assert main(["validate", "-c", cfg, "--ckpt_path", str(ckpt)]) == 0


def test_drop_path_ramps_and_auxiliary_head_trains(tmp_path):
    seed_everything(0)
    model = tiny(space=DartsSpace(channels=4, layers=3, auxiliary=True), drop_path_prob=0.3)
    seen = []
    orig = model.on_train_epoch_start

    def record():
        orig()
        seen.append(model.net.drop_path_prob)

    model.on_train_epoch_start = record
    fit(tmp_path, model, epochs=3)
    assert seen == pytest.approx([0.0, 0.1, 0.2])
    assert model.net.auxiliary_head is not None


def test_learning_rate_schedule_warm_up_then_cosine(tmp_path):
    model = tiny(lr=0.1, lr_min=0.0, warmup_epochs=2, warmup_factor=0.1)
    model.trainer = Trainer(max_epochs=10, logger=False)
    cfg = model.configure_optimizers()
    opt, sched = cfg["optimizer"], cfg["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs[0] == pytest.approx(0.01)  # warm-up starts at 0.1 x lr
    assert lrs[1] == pytest.approx(0.1 * (1 + 0.95105651629) / 2 * 0.55)
    assert lrs[5] == pytest.approx(0.05)
    assert opt.param_groups[0]["nesterov"] is True


def test_cutout_zeroes_one_square_per_image():
    torch.manual_seed(0)
    x = torch.ones(64, 3, 32, 32)
    y = cutout(x, 16)
    zeros = (y[:, 0] == 0).sum(dim=(1, 2))
    assert (zeros <= 256).all() and (zeros > 0).all() and (zeros == 256).any()
    assert torch.equal(y[:, 0] == 0, y[:, 2] == 0)


def test_precise_bn_recomputes_exact_statistics():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    batches = [torch.randn(8, 3, 4, 4) + 3 for _ in range(4)]
    used = recompute_bn_stats(net, batches, 32)
    assert used == 32
    feats = torch.cat([net[0](b) for b in batches])
    assert torch.allclose(net[1].running_mean, feats.mean(dim=(0, 2, 3)), atol=1e-5)
    assert net[1].momentum == 0.1


def test_training_resumes_exactly(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint


    def run(root, callbacks=(), ckpt=None):
        model = tiny(drop_path_prob=0.2)
        dm = ImageDataModule(Generated(train_size=16, test_size=8), batch_size=8)
        t = Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                    num_sanity_val_steps=0, default_root_dir=str(root),
                    callbacks=[ModelCheckpoint(dirpath=str(root / "ckpt"), save_last=True), *callbacks])
        t.fit(model, dm, ckpt_path=ckpt)
        return model

    seed_everything(0)
    full = run(tmp_path / "full")
    seed_everything(0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path / "part", callbacks=[CrashAtSecondEpoch()])
    seed_everything(7)
    resumed = run(tmp_path / "part", ckpt=str(tmp_path / "part" / "ckpt" / "last.ckpt"))
    for a, b in zip(full.net.state_dict().values(), resumed.net.state_dict().values()):
        assert torch.equal(a, b)
    assert full.best_acc == resumed.best_acc and full.best_epoch == resumed.best_epoch
    assert len(full.acc_per_epoch) == len(full.train_acc_per_epoch) == 2
    assert full.acc_per_epoch == resumed.acc_per_epoch and full.train_acc_per_epoch == resumed.train_acc_per_epoch


def test_result_keeps_every_epochs_held_out_and_training_accuracy(tmp_path):
    from lightning.pytorch.callbacks import Callback

    class StepAccuracies(Callback):
        def __init__(self):
            self.per_epoch = {}

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.per_epoch.setdefault(trainer.current_epoch, []).append(float(trainer.callback_metrics["train/acc"]))

        def on_validation_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                self.val = getattr(self, "val", []) + [float(trainer.callback_metrics["val/acc"])]

    seed_everything(0)
    model = tiny()
    steps = StepAccuracies()
    dm = ImageDataModule(Generated(train_size=32, test_size=16), batch_size=8)  # 4 equal batches an epoch
    Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, default_root_dir=str(tmp_path), callbacks=[steps]).fit(model, dm)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["acc_per_epoch"] == pytest.approx(steps.val)
    assert result["best_acc"] == max(result["acc_per_epoch"])
    assert result["best_epoch"] == result["acc_per_epoch"].index(result["best_acc"])
    expected = [sum(v) / len(v) for _, v in sorted(steps.per_epoch.items())]
    assert result["train_acc_per_epoch"] == pytest.approx(expected, abs=1e-6)
    assert result["train_acc"] == result["train_acc_per_epoch"][-1]
    assert result["rank_metric"] == "best_acc"


def test_random_labels_rank_by_the_weight_angle(tmp_path):
    from pretext_tasks import RandomLabels

    seed_everything(0)
    model = ArchTraining(RandomLabels(num_classes=4), arch="darts_v2", space=DartsSpace(channels=4, layers=3),
                         precise_bn_samples=16)
    fit(tmp_path, model, epochs=2)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["rank_metric"] == "weight_angle" and result["task"] == "random_labels"
    assert 0.0 < result["weight_angle"] < 3.2 and len(result["weight_angle_per_epoch"]) == 2
    assert result["train_acc"] == result["train_acc_per_epoch"][-1] and 0.0 <= result["train_acc"] <= 1.0
