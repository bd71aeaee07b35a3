"""Pieces the search and training modules share: argument checks (ranges, renamed arguments), loss checks, precise
BN, run-folder helpers, image logging, per-step seeds and held-out evaluation."""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from typing import Any, Dict, Iterable, Optional

import torch
from torch import nn

from unnas.errors import ConfigError, UserError


class NonFiniteLossError(UserError, RuntimeError):
    """The loss became NaN or infinite."""


def check_finite(loss: torch.Tensor, where: str) -> None:
    """Stop with one clear line when *loss* is NaN/inf (the usual fixes: a lower learning rate, gradient clipping)."""
    if not torch.isfinite(loss).all():
        raise NonFiniteLossError(
            f"{where} loss is {loss.item()} ; lower the learning rate or check the data (a NaN loss cannot recover)")


def check_range(owner: str, name: str, value: Optional[float], low: float = 0.0, high: float = math.inf,
                low_open: bool = False, high_open: bool = True, example: Any = None) -> None:
    """Raise :class:`ConfigError` unless *value* is a finite number in the interval [low, high] (ends open as
    asked; ``None`` passes: the setting is off)."""
    if value is None:
        return
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value > low if low_open else value >= low)
    ok = ok and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        hint = f", e.g. {example}" if example is not None else ""
        raise ConfigError(f"{owner} {name}={value}: must be a finite number in {left}{low:g}, {high:g}{right}; set "
                          f"model.init_args.{name}{hint}")


def renamed(owner: str, name: str, value: Any, old_name: str, old_value: Any, default: Any = None) -> Any:
    """The value of constructor argument *name*, which configs may still give under its old name *old_name*:
    *value*, else *old_value*, else *default*. One-line :class:`ConfigError` when both names are given."""
    if value is not None and old_value is not None:
        raise ConfigError(f"{owner} got both {name} and its old name {old_name}; keep model.init_args.{name} and "
                          f"remove {old_name} (or set model.init_args.{old_name}: null)")
    return value if value is not None else old_value if old_value is not None else default


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, batches: Iterable[torch.Tensor], num_samples: int) -> int:
    """Precise BN: reset every BatchNorm's running statistics and re-estimate them as the exact average over
    about *num_samples* training samples (pycls's ``compute_precise_bn_stats``). Returns samples used."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns or num_samples <= 0:
        return 0
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average = exact mean over the batches seen
    was_training = model.training
    model.train()
    seen = 0
    try:
        for x in batches:
            model(x)
            seen += x.shape[0]
            if seen >= num_samples:
                break
    finally:
        for bn, m in zip(bns, momenta):
            bn.momentum = m
        model.train(was_training)
    return seen


def run_dir(trainer) -> str:
    """The folder of this run's artefacts: the logger's folder, else the trainer's root dir."""
    path = None
    if trainer.loggers:
        logger = trainer.loggers[0]
        path = getattr(logger, "log_dir", None)
        if type(logger).__name__ == "WandbLogger":
            exp = logger.experiment
            path = getattr(exp, "dir", None) or logger.save_dir
    path = path or trainer.default_root_dir
    os.makedirs(path, exist_ok=True)
    return path


def log_image(trainer, key: str, path: str, step: Optional[int] = None) -> None:
    """Send an image file to every logger that takes images (W&B); file loggers keep the file itself."""
    for logger in trainer.loggers:
        if hasattr(logger, "log_image"):
            try:
                logger.log_image(key=key, images=[path], step=step)
            except Exception as e:  # noqa: BLE001 - image logging must never end a run
                print(f"unnas: could not log image {key} to {type(logger).__name__}: {e}")


def cosine_lr(base: float, minimum: float, epoch: int, epochs: int) -> float:
    """DARTS/pycls per-epoch cosine: ``min + (base - min) * (1 + cos(pi * epoch / epochs)) / 2``."""
    return minimum + (base - minimum) * (1 + math.cos(math.pi * epoch / max(1, epochs))) / 2


def check_checkpoint_kind(checkpoint: Dict[str, Any], module: str) -> None:
    """One-line :class:`ConfigError` when *checkpoint* was written by the other kind of run (a search's checkpoint
    given to a training config, or a training's to a search config): its weights cannot fit this module."""
    found = ("WeightSharingSearch" if "unnas_search" in checkpoint else
             "ArchTraining" if "unnas_train" in checkpoint else None)
    if found is None or found == module:
        return
    if found == "WeightSharingSearch":
        fix = ("train the cell it found from its genotype.json (--model.init_args.arch=<run>/genotype.json) without "
               "--ckpt_path, or resume the search with its search config")
    else:
        fix = "resume it with the training config that wrote it, or start the search without --ckpt_path"
    raise ConfigError(f"--ckpt_path is a checkpoint of a {found} run, but this config runs {module}; {fix}")


class StepSeedMixin:
    """Per-step random numbers that depend only on (base seed, step, rank).

    Each training step runs inside :meth:`step_rng`, which seeds a forked RNG from the module's base seed (taken
    from torch's seed when the module is built, and saved in checkpoints), the step number and the process rank.
    Augmentations, permutations, drop path and cutout of step ``s`` are then the same whether the run was
    interrupted and resumed or not, and DDP ranks draw different numbers.
    """

    def _init_step_seed(self) -> None:
        self.base_seed = int(torch.initial_seed()) % (2**31)

    @contextmanager
    def step_rng(self, step: int):
        rank = self.trainer.global_rank if self._trainer is not None else 0
        seed = (self.base_seed * 1_000_003 + step * 7_919 + rank) % (2**63 - 1)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        checkpoint["unnas_base_seed"] = self.base_seed

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        self.base_seed = checkpoint.get("unnas_base_seed", self.base_seed)


class HeldOutEvalMixin:
    """Exact held-out loss and accuracy of an evaluation pass: sums over batches (pixels for dense targets),
    reduced across DDP ranks, with the objective's seeded generator so a pass is repeatable. The module holds its
    objective as ``self.objective``."""

    def _start_eval(self) -> None:
        self._eval_generator = self.objective.eval_generator()
        self._eval = torch.zeros(3, device=self.device)

    def _eval_step(self, batch) -> None:
        x, y = self.objective.prepare(*batch, train=False, generator=self._eval_generator)
        logits = self(x)
        correct, count = self.objective.accuracy(logits, y)
        self._eval += torch.stack([self.objective.loss(logits, y).detach() * count, correct.float(),
                                   torch.tensor(float(count), device=self.device)])

    def _eval_metrics(self):
        """``(mean loss, accuracy)`` of the pass, over all ranks; a NaN/inf loss stops the run
        (:class:`NonFiniteLossError`) before anything records the epoch as a success."""
        total = self.trainer.strategy.reduce(self._eval, reduce_op="sum")
        loss = total[0] / total[2].clamp_min(1)
        check_finite(loss, "held-out")
        return loss.item(), (total[1] / total[2].clamp_min(1)).item()
