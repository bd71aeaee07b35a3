import os

import pytest
import yaml
from lightning.pytorch import Callback


def write_config(tmp_path, model: dict, data: dict, max_epochs: int = 1, name: str = "cfg", threads=1,
                 **trainer) -> str:
    """A small LightningCLI config with a CSV logger under tmp_path; one torch thread unless *threads* says
    otherwise (None: the command's default)."""
    cfg = {
        "seed_everything": 0,
        **({} if threads is None else {"threads": threads}),
        "trainer": {
            "max_epochs": max_epochs,
            "accelerator": "cpu",
            "devices": 1,
            "logger": [{"class_path": "lightning.pytorch.loggers.CSVLogger",
                        "init_args": {"save_dir": str(tmp_path / "runs"), "name": name}}],
            "callbacks": [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"save_last": True}}],
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "num_sanity_val_steps": 0,
            "log_every_n_steps": 1,
            **trainer,
        },
        "model": model,
        "data": data,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)


def generated(train_size=32, test_size=16, labelled=True, num_classes=4):
    return {"class_path": "unnas.data.Generated",
            "init_args": {"train_size": train_size, "test_size": test_size, "size": 32, "num_classes": num_classes,
                          "labelled": labelled}}


TASKS = {
    "supervised": {"class_path": "pretext_tasks.Supervised", "init_args": {"num_classes": 4}},
    "rotation": {"class_path": "pretext_tasks.Rotation"},
    "colorization": {"class_path": "pretext_tasks.Colorization"},
    "jigsaw": {"class_path": "pretext_tasks.Jigsaw"},
}


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


class CrashAtSecondEpoch(Callback):
    """The process dies when the second epoch starts (a checkpoint of the first one exists)."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")


SEARCH_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                              "configs", "search")


def strategy_overlay(base: str, overlay: str, strategy: dict, monkeypatch):
    """Assert that the strategy overlay ``configs/search/strategies/<overlay>.yaml`` holds the strategy entry
    *strategy* and nothing else; return the LightningCLI of search config *base* composed with it (``-c base -c
    overlay``), built but not run."""
    from unnas.lightning_cli import run

    with open(os.path.join(SEARCH_CONFIGS, "strategies", f"{overlay}.yaml")) as f:
        overlay_cfg = yaml.safe_load(f)
    # the strategy under its name (search_strategy) or its old name (strategy), which still loads
    assert overlay_cfg in ({"model": {"init_args": {key: strategy}}} for key in ("search_strategy", "strategy"))
    monkeypatch.chdir(os.path.dirname(os.path.dirname(SEARCH_CONFIGS)))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    return run(["-c", os.path.join("configs", "search", f"{base}.yaml"),
                "-c", os.path.join("configs", "search", "strategies", f"{overlay}.yaml"), "--trainer.accelerator=cpu"],
               run=False)


class RecordingDraws:
    """Mixin for a sampling strategy that keeps every draw of a forward pass in ``draws``: ``(key, sampled ops)``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.draws = []

    def op_weights(self, alpha, key):
        out = super().op_weights(alpha, key)
        self.draws.append((key, out.active))
        return out


def one_config_error(make) -> str:
    """The message of the :class:`~unnas.errors.ConfigError` that ``make()`` raises (the test fails if it raises none)."""
    import pytest

    from unnas.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        make()
    return str(info.value)


def fit_search(root, model, epochs: int, callbacks=(), ckpt=None):
    """Fit search *model* on 32 generated 8x8 images (batches of 8, half for the alphas) for *epochs*, checkpointing
    ``last.ckpt`` under ``root/ckpt`` (resumed from *ckpt* when given); returns the model."""
    from lightning.pytorch import Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint

    from unnas.data import Generated, ImageDataModule

    Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, default_root_dir=str(root),
            callbacks=[ModelCheckpoint(dirpath=str(root / "ckpt"), save_last=True), *callbacks]).fit(
        model, ImageDataModule(Generated(train_size=32, test_size=8, size=8), batch_size=8, train_portion=0.5),
        ckpt_path=ckpt)
    return model
