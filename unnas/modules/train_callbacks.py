"""Callbacks of architecture training: :class:`WeightAngle`, RLNAS's angle between the initial and the trained
weights, recorded with every run."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import lightning as L
from torch import Tensor, nn

from unnas.weight_angle import weight_angle

#: the result field of the angle (radians) and, with ``_per_epoch``, of its value after every training epoch
ANGLE_FIELD = "weight_angle"
#: parameter-name prefixes left out of the angle: DARTS's auxiliary tower and its head (a training aid, not part
#: of the architecture RLNAS ranks, and absent from the network once training ends)
EXCLUDED_PREFIXES = ("auxiliary_trunk.", "auxiliary_head.")


def angle_parameters(net: nn.Module) -> List[Tuple[str, nn.Parameter]]:
    """The parameters whose concatenation is the weight vector of the angle, as ``(name, parameter)`` in the
    network's order: every trainable parameter of the architecture's network (stem, every operation of the cells,
    the affine weights of its BatchNorms, the objective's head), without the auxiliary tower and head.

    As RLNAS's official code (``get_arch_vector``/``get_arch_angle`` in megvii-model/RLNAS, all three search
    spaces): the convolutions of the architecture's operations, the stem and the classifier, and the BatchNorms'
    learnt weight and bias; BatchNorm running statistics are buffers, not weights, and never enter. RLNAS builds
    the vector of one path through a supernet; here the network is the architecture itself, so all of its
    parameters are the path's. Parameter-free operations (skip, pooling, none) have no weights here and add
    nothing (RLNAS adds a constant stand-in for pooling and identity on its path, equal before and after
    training)."""
    return [(n, p) for n, p in net.named_parameters()
            if p.requires_grad and not n.startswith(EXCLUDED_PREFIXES)]


def _set_epoch(values: List[Optional[float]], epoch: int, value: Optional[float]) -> None:
    values.extend([None] * (epoch + 1 - len(values)))
    values[epoch] = value


class WeightAngle(L.Callback):
    """RLNAS's angle between the network's initial and current weights (:func:`unnas.weight_angle.weight_angle`
    over :func:`angle_parameters`), in radians.

    When fit starts it keeps a CPU copy of the initial weights; after every training epoch it logs the angle as
    ``train/weight_angle`` and keeps it per epoch; :meth:`angle` gives it at any time (the module's result, and
    with it the run's ``result.json`` and a study job's record, carries it as ``weight_angle`` and
    ``weight_angle_per_epoch``). The initial weights and the per-epoch values are part of the checkpoint (this
    callback's state), so a run resumed from one measures against the true initial weights and gives the angle
    an uninterrupted run gives. A run resumed from a checkpoint that lacks them (written before the angle was
    recorded) has no angle (None): its initial weights are unknown.

    :class:`~unnas.modules.ArchTraining` adds one by default.

    Args:
        module_attr: the attribute of the LightningModule that holds the network.
    """

    def __init__(self, module_attr: str = "net"):
        self.module_attr = module_attr
        self.names: Optional[List[str]] = None
        self.initial: Optional[List[Tensor]] = None
        self.per_epoch: List[Optional[float]] = []
        self.unknown: Optional[str] = None  # why there is no angle

    def _net(self, pl_module: L.LightningModule) -> nn.Module:
        return getattr(pl_module, self.module_attr)

    def capture(self, pl_module: L.LightningModule) -> None:
        """Keep a CPU copy of the network's current weights as the initial ones."""
        params = angle_parameters(self._net(pl_module))
        self.names = [n for n, _ in params]
        self.initial = [p.detach().to("cpu", copy=True) for _, p in params]
        self.unknown = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.initial is not None:
            return  # restored from the checkpoint being resumed
        if trainer.ckpt_path is not None:
            # Lightning restores callbacks before on_fit_start (or, for strategies that restore after setup, after
            # it; load_state_dict then replaces this)
            self.unknown = ("resumed from a checkpoint that holds no initial weights; the angle needs the weights "
                            "the run started from")
            return
        self.capture(pl_module)

    def angle(self, pl_module: L.LightningModule) -> Optional[float]:
        """The angle between the initial and the current weights (None when the initial weights are unknown)."""
        if self.initial is None:
            return None
        params = angle_parameters(self._net(pl_module))
        names = [n for n, _ in params]
        if names != self.names:
            raise ValueError(f"the network's weights are not those whose initial copy was kept ({len(names)} "
                             f"tensors now, {len(self.names or [])} then)")
        return weight_angle(self.initial, [p for _, p in params])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = self.angle(pl_module)
        _set_epoch(self.per_epoch, trainer.current_epoch, value)
        if value is not None:
            pl_module.log(f"train/{ANGLE_FIELD}", value)

    def result(self, pl_module: L.LightningModule) -> Dict[str, Any]:
        """The fields a run's result gets: ``weight_angle`` (now) and ``weight_angle_per_epoch``."""
        return {ANGLE_FIELD: self.angle(pl_module), f"{ANGLE_FIELD}_per_epoch": list(self.per_epoch)}

    def state_dict(self) -> Dict[str, Any]:
        return {"names": self.names, "initial": self.initial, "per_epoch": list(self.per_epoch)}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.names = state_dict.get("names")
        self.initial = state_dict.get("initial")
        self.per_epoch = list(state_dict.get("per_epoch") or [])
        self.unknown = None if self.initial is not None else self.unknown
