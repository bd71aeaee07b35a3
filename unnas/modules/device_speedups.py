"""Choosing the space's speed switches for the device a run computes on, once the trainer knows it.

Networks are built on the CPU with the CPU's choice for every switch the config leaves unset; in ``setup`` (before
the trainer moves the module) the training and search modules re-choose them for the trainer's device
(:meth:`~unnas.spaces.SearchSpace.speedups_for`), print one line naming the device and the switches, log them with
the run's hyperparameters (``hparams.yaml``: ``speedups``) and keep them for the run's result
(``speedups_chosen``: result.json and a study job's record).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import nn

from unnas.spaces.speedups import Speedups, set_speedups_


def speedups_record(device: torch.device, chosen: Speedups, spec: Optional[Speedups]) -> Dict[str, Any]:
    """What a result records: the device type, every switch's value, and which were left to the device."""
    unset = list(spec.unset()) if isinstance(spec, Speedups) else list(chosen.as_dict())
    return {"device": device.type, **chosen.as_dict(), "by_device": unset}


def speedups_line(device: torch.device, chosen: Speedups, spec: Optional[Speedups]) -> str:
    unset = spec.unset() if isinstance(spec, Speedups) else tuple(chosen.as_dict())
    how = ("all chosen by device" if len(unset) == len(chosen.as_dict()) else
           "all set in the config" if not unset else f"{len(unset)} chosen by device")
    return f"unnas: speed switches on {device.type}: {chosen.describe()} ({how})"


class DeviceSpeedupsMixin:
    """For a LightningModule with ``self.space``: :meth:`choose_speedups` from ``setup``."""

    speedups_chosen: Optional[Dict[str, Any]] = None

    def choose_speedups(self, net: nn.Module) -> Dict[str, Any]:
        """Switch *net* to the space's speed switches for the trainer's device (idempotent per device)."""
        trainer = self._trainer
        device = trainer.strategy.root_device if trainer is not None else self.device
        if self.speedups_chosen is not None and self.speedups_chosen.get("device") == device.type:
            return self.speedups_chosen
        spec = getattr(self.space, "speedups", None)
        chosen = self.space.speedups_for(device)
        set_speedups_(net, chosen)
        self.speedups_chosen = speedups_record(device, chosen, spec)
        if trainer is None or trainer.is_global_zero:
            print(speedups_line(device, chosen, spec), flush=True)
        for logger in (trainer.loggers if trainer is not None else []):
            logger.log_hyperparams({"speedups": self.speedups_chosen})
        return self.speedups_chosen
