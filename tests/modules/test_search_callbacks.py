"""The search's files come from the SearchArtefacts callback, which every search gets by default: per epoch the
genotype JSON, alphas.json, heatmap, cell drawing, alpha evolution and true-accuracy curve; the final genotype."""

import json
import os

import pytest
import yaml
from lightning.pytorch import Trainer, seed_everything

from pretext_tasks import Supervised
from unnas.cli import main
from unnas.data import Generated, ImageDataModule
from unnas.modules import WeightSharingSearch
from unnas.modules.search_callbacks import SearchArtefacts
from unnas.spaces import NB201Space

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PER_EPOCH = ("genotypes/epoch_{:03d}.json", "alphas/epoch_{:03d}.png", "cells/epoch_{:03d}.png")


def _fit(tmp_path, epochs=2, callbacks=()):
    seed_everything(0)
    model = WeightSharingSearch(Supervised(num_classes=4), space=NB201Space(channels=2, layers=1), arch_lr=0.01)
    trainer = Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=str(tmp_path),
                      callbacks=list(callbacks))
    trainer.fit(model, ImageDataModule(Generated(train_size=32, test_size=8, size=8), batch_size=8, train_portion=0.5))
    return model, trainer


def test_every_search_writes_its_files_through_the_default_callback(tmp_path, capsys):
    model, trainer = _fit(tmp_path)
    assert [type(c) for c in trainer.callbacks].count(SearchArtefacts) == 1
    # the callback and the module both end the epoch: each epoch is recorded once
    assert [e["epoch"] for e in model.alpha_history] == [0, 1]
    space = model.space
    for epoch, entry in enumerate(model.alpha_history):
        assert space.load(str(tmp_path / PER_EPOCH[0].format(epoch))) == space.from_dict(entry["genotype"])
        for pattern in PER_EPOCH[1:]:
            assert os.path.getsize(tmp_path / pattern.format(epoch)) > 1000
    with open(tmp_path / "alphas.json") as f:
        alphas = json.load(f)
    assert alphas == {"space": "nb201", "primitives": list(model.supernet.primitives),
                      "speedups": model.speedups_chosen, "epochs": json.loads(json.dumps(model.alpha_history))}
    assert alphas["speedups"]["device"] == "cpu" and alphas["speedups"]["channels_last"] is True
    for name in ("alphas_evolution.png", "true_accuracy.png"):
        assert os.path.getsize(tmp_path / name) > 1000
    assert space.load(str(tmp_path / "genotype.json")) == model.genotype()
    printed = capsys.readouterr().out
    assert f"epoch 1 genotype = {space.format(space.from_dict(model.alpha_history[1]['genotype']))}" in printed
    assert f"final genotype (after the last epoch) = {space.format(model.genotype())}" in printed
    # one line names the strategy, the found cell and where genotype.json is
    (line,) = [ln for ln in printed.splitlines() if ln.startswith("unnas: search finished")]
    assert "FirstOrder" in line and space.format(model.genotype()) in line
    assert str(tmp_path / "genotype.json") in line


def test_a_configured_callback_replaces_the_default(tmp_path):
    mine = SearchArtefacts(plots=False)
    model, trainer = _fit(tmp_path, epochs=1, callbacks=[mine])
    assert [c for c in trainer.callbacks if isinstance(c, SearchArtefacts)] == [mine]
    assert (tmp_path / "genotypes" / "epoch_000.json").exists() and (tmp_path / "alphas.json").exists()
    assert (tmp_path / "genotype.json").exists()
    assert not list(tmp_path.rglob("*.png"))


@pytest.mark.parametrize("config, shape, files", [
    ("nb201_cifar10_cpu", ["--model.init_args.space.init_args.channels=2",
                           "--model.init_args.objective.init_args.num_classes=4"], ("true_accuracy.png",)),
    ("cifar10_rotation_cpu", ["--model.init_args.space.init_args.channels=2",
                              "--model.init_args.space.init_args.layers=3"], ()),
])
def test_the_gdas_overlay_writes_the_files_of_a_search(config, shape, files, tmp_path, monkeypatch):
    """``unnas fit -c configs/search/<config>.yaml -c configs/search/strategies/gdas.yaml`` on generated images,
    shrunk to one tiny epoch."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    args = ["fit", "-c", os.path.join(ROOT, "configs", "search", f"{config}.yaml"),
            "-c", os.path.join(ROOT, "configs", "search", "strategies", "gdas.yaml"), "--trainer.accelerator=cpu",
            "--trainer.max_epochs=1", "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
            "--data.source=unnas.data.Generated", "--data.source.init_args.size=8", "--data.train_size=16",
            "--data.test_size=8", "--data.batch_size=4", "--threads=1", *shape]
    assert main(args) == 0
    run = tmp_path / "runs" / f"search_{config}_gdas" / "version_0"  # the folder names its strategy
    for name in ("genotype.json", "checkpoints/genotype.json", "alphas.json", "alphas_evolution.png",
                 *[p.format(0) for p in PER_EPOCH], *files):
        assert (run / name).exists(), name
    assert "unnas.modules.strategies.GDAS" in (run / "lightning_config.yaml").read_text()
    assert yaml.safe_load((run / "hparams.yaml").read_text())["search_strategy"] == "gdas"  # tells GDAS from DARTS
    with open(run / "alphas.json") as f:
        assert [e["strategy"] for e in json.load(f)["epochs"]] == [{"tau": 10.0}]
