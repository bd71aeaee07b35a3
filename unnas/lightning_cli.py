"""``unnas fit | validate | test``: LightningCLI over the unnas modules, data and objectives.

The LightningModule is chosen by ``class_path`` (``unnas.modules.DartsSearch`` or ``unnas.modules.ArchTraining``),
the objective by ``model.init_args.task`` and the images by ``data.init_args.source``. W&B runs offline unless
``WANDB_MODE=online`` is set (with an API key); metrics also go to CSV.
"""

from __future__ import annotations

import os
import warnings
from typing import List, Optional

import lightning as L
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

import pretext_tasks  # noqa: F401  (registers the objectives' short class names)
import unnas.data  # noqa: F401
import unnas.modules  # noqa: F401
from unnas.data.datamodule import ImageDataModule
from unnas.modules.common import run_dir

CONFIG_NAME = "lightning_config.yaml"


class SaveConfigToRunDir(SaveConfigCallback):
    """Save the resolved config into the run's own folder as ``lightning_config.yaml``.

    Lightning's default writes ``config.yaml`` into ``trainer.log_dir``, which with a W&B logger is a folder
    shared by all runs (the second run then aborts) and clashes with W&B's own ``config.yaml``.
    """

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        path = os.path.join(run_dir(trainer), CONFIG_NAME)
        self.parser.save(self.config, path, overwrite=True, multifile=False)
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                logger.experiment.config.update({"cli": self.config.as_dict()}, allow_val_change=True)


TRAINER_DEFAULTS = {
    "logger": [
        {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs", "name": "unnas"}},
        {"class_path": "lightning.pytorch.loggers.WandbLogger", "init_args": {"save_dir": "runs", "project": "unnas"}},
    ],
}


class UnnasCLI(LightningCLI):
    pass


def run(args: Optional[List[str]] = None, run: bool = True) -> UnnasCLI:
    """Run the Lightning command line with *args* (``["fit", "-c", "config.yaml", ...]``); with ``run=False``
    only parse and instantiate (args then carry no subcommand)."""
    # Lightning-internal deprecation noise from its pytree helper; not actionable by users.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # unnas passes args programmatically (study workers, tests) while sys.argv holds its own command.
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended")
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    return UnnasCLI(
        model_class=L.LightningModule,
        subclass_mode_model=True,
        datamodule_class=ImageDataModule,
        auto_configure_optimizers=False,
        save_config_callback=SaveConfigToRunDir,
        save_config_kwargs={"overwrite": True, "save_to_log_dir": False},
        trainer_defaults=TRAINER_DEFAULTS,
        seed_everything_default=0,
        args=args,
        run=run,
        parser_kwargs={"description": "unnas: search or train an architecture with Lightning"},
    )
