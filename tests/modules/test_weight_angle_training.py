"""RLNAS's weight angle recorded by every training run (unnas.modules.train_callbacks.WeightAngle)."""

import csv
import json

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from conftest import CrashAtSecondEpoch
from pretext_tasks import RandomLabels, Supervised
from unnas.data import Generated, ImageDataModule
from unnas.modules import ArchTraining
from unnas.modules.train_callbacks import WeightAngle, angle_parameters
from unnas.spaces import DartsSpace
from unnas.weight_angle import weight_angle


def tiny(objective=None, **kw):
    return ArchTraining(objective or Supervised(num_classes=4), arch="darts_v2",
                        space=DartsSpace(channels=4, layers=3), precise_bn_samples=8, **kw)


def trainer(root, epochs=2, callbacks=(), logger=False):
    return Trainer(max_epochs=epochs, accelerator="cpu", logger=logger, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=str(root),
                   log_every_n_steps=1, callbacks=list(callbacks))


def data():
    return ImageDataModule(Generated(train_size=16, test_size=8), batch_size=8)


def test_the_angle_parameters_are_the_networks_weights_without_the_auxiliary_head():
    space = DartsSpace(channels=4, layers=3, auxiliary=True)
    net = space.network(space.load("darts_v2"), head=Supervised(num_classes=4).head)
    names = [n for n, _ in angle_parameters(net)]
    assert names and not any(n.startswith("auxiliary") for n in names)
    assert {"stem.0.weight", "stem.1.weight", "stem.1.bias", "head.classifier.weight"} <= set(names)
    assert any(n.startswith("auxiliary") for n, _ in net.named_parameters())  # there was one to leave out
    assert not any("running" in n for n in names)  # BN statistics are buffers, never weights


def test_a_run_records_the_angle_from_its_initial_weights(tmp_path):
    seed_everything(0)
    model = tiny(RandomLabels(num_classes=4))
    initial = [p.detach().clone() for _, p in angle_parameters(model.net)]
    logger = CSVLogger(str(tmp_path), name="", version="run")
    trainer(tmp_path, logger=logger).fit(model, data())
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    expect = weight_angle(initial, [p for _, p in angle_parameters(model.net)])
    assert 0.0 < result["weight_angle"] < torch.pi and result["weight_angle"] == pytest.approx(expect, abs=1e-12)
    assert result["weight_angle_per_epoch"][-1] == result["weight_angle"] == model.result()["weight_angle"]
    assert len(result["weight_angle_per_epoch"]) == 2 and result["rank_metric"] == "weight_angle"
    with open(tmp_path / "run" / "metrics.csv") as f:
        logged = [float(r["train/weight_angle"]) for r in csv.DictReader(f) if r.get("train/weight_angle")]
    assert logged == pytest.approx(result["weight_angle_per_epoch"])


def test_a_resumed_run_gives_the_angle_of_an_uninterrupted_one(tmp_path):
    def run(root, callbacks=(), ckpt=None):
        model = tiny()
        t = trainer(root, callbacks=[ModelCheckpoint(dirpath=str(root / "ckpt"), save_last=True), *callbacks])
        t.fit(model, data(), ckpt_path=ckpt)
        return model

    seed_everything(0)
    full = run(tmp_path / "full")
    seed_everything(0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path / "part", callbacks=[CrashAtSecondEpoch()])
    ckpt = tmp_path / "part" / "ckpt" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)["callbacks"]["WeightAngle"]
    assert len(state["initial"]) == len(state["names"]) and len(state["per_epoch"]) == 1
    seed_everything(7)  # another seed: the resumed run's fresh initial weights must not count
    resumed = run(tmp_path / "part", ckpt=str(ckpt))
    a, b = full.result(), resumed.result()
    assert a["weight_angle"] > 0 and a["weight_angle"] == b["weight_angle"]
    assert a["weight_angle_per_epoch"] == b["weight_angle_per_epoch"]


def test_a_run_resumed_from_a_checkpoint_without_initial_weights_has_no_angle(tmp_path):
    seed_everything(0)
    model = tiny()
    t = trainer(tmp_path, epochs=1, callbacks=[ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_last=True)])
    t.fit(model, data())
    ckpt = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    del ckpt["callbacks"]["WeightAngle"]  # as a checkpoint written before the angle was recorded
    torch.save(ckpt, tmp_path / "old.ckpt")
    resumed = tiny()
    trainer(tmp_path / "again", epochs=2).fit(resumed, data(), ckpt_path=str(tmp_path / "old.ckpt"))
    assert resumed.result()["weight_angle"] is None
    assert next(c for c in resumed.trainer.callbacks if isinstance(c, WeightAngle)).unknown
