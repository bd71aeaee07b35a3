"""Training one architecture from scratch under any objective, with the DARTS and UnNAS recipes."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from typing import Any, Dict, List, Optional

import lightning as L
import torch
import torch.nn.functional as F

from pretext_tasks.base import PretextTask
from unnas.modules.common import (HeldOutEvalMixin, StepSeedMixin, check_checkpoint_kind, check_finite, check_range,
                                  cosine_lr, recompute_bn_stats, renamed, run_dir)
from unnas.modules.device_speedups import DeviceSpeedupsMixin
from unnas.errors import ConfigError
from unnas.provenance import machine
from unnas.spaces import ArchError, SearchSpace, detect_space, resolve_space
from unnas.spaces.complexity import count_macs, count_params


def cutout(x: torch.Tensor, length: int) -> torch.Tensor:
    """DARTS's cutout, batched: zero one square per image (side ``2 * (length // 2)``), centre uniform over
    the image, clipped at the borders."""
    if length <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1, 1), device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    # DARTS: rows clip(cy - length//2, 0, h) .. clip(cy + length//2, 0, h), upper bound exclusive; same for columns
    half = length // 2
    inside = (ys >= cy - half) & (ys < cy + half) & (xs >= cx - half) & (xs < cx + half)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def load_arch(space: SearchSpace, spec: Any) -> Any:
    """*spec* read as an architecture of *space*. When *space* cannot read it but another space recognises it (a
    NAS-Bench-201 cell given to a DARTS config), one-line :class:`ConfigError` naming the config to use."""
    try:
        return space.load(spec)
    except ArchError:
        try:
            other = detect_space(spec)
        except ArchError:
            other = None
        if other is None or isinstance(space, other):
            raise
        fix = (f"use -c {other.train_config}" if other.train_config else
               f"set model.init_args.space to {other.__module__.rsplit('.', 2)[0]}.{other.__name__}")
        raise ConfigError(f"the arch is {other.arch_noun} but the config's space is {space.name}; {fix} (or set "
                          f"model.init_args.space: {{class_path: unnas.spaces.{other.__name__}}})") from None


def _set_epoch(values: List[Optional[float]], epoch: int, value: Optional[float]) -> None:
    """``values[epoch] = value``, padding the epochs between with None."""
    values.extend([None] * (epoch + 1 - len(values)))
    values[epoch] = value


class ArchTraining(DeviceSpeedupsMixin, StepSeedMixin, HeldOutEvalMixin, L.LightningModule):
    """Train a fixed architecture of any space from scratch under an objective; report the best-epoch held-out
    accuracy (what the study ranks).

    Defaults are UnNAS's CIFAR-10 sample-study recipe (SGD Nesterov 0.9, lr 0.1 cosine, weight decay 5e-4, precise
    BN on 1024 images before every evaluation, no auxiliary head, no drop path); the network's shape is the space's.

    Args:
        objective: the objective (``pretext_tasks.Rotation``, ..., or any registered one).
        arch: an architecture of the space: a registered name, its notation, JSON, or a .json file (default
            ``darts_v2``).
        space: the search space and network shape (``unnas.spaces.DartsSpace``, ``unnas.spaces.NB201Space``); without
            it, the space the architecture belongs to at its default shape.
        auxiliary_weight: loss weight of the auxiliary head (when the space builds one).
        drop_path_prob: final drop-path probability (ramped linearly from 0 over the epochs, as DARTS).
        lr / lr_min / momentum / nesterov / weight_decay: SGD with a per-epoch cosine from lr to lr_min.
        warmup_epochs / warmup_factor: linear warm-up from ``warmup_factor * lr`` (pycls).
        grad_clip: gradient-norm clip (DARTS: 5; None or 0 disables).
        label_smoothing: cross-entropy label smoothing (DARTS ImageNet: 0.1).
        cutout: side of DARTS's cutout square on training inputs (0 disables; DARTS CIFAR: 16).
        precise_bn_samples: training samples for recomputing BN statistics before each evaluation (0 disables).
        compile: compile the training forward pass with ``torch.compile`` (evaluation, precise BN and the MAC count
            stay eager). Pays only on long runs: compiling took about two minutes on a CPU (docs/benchmarks.md); needs
            ``drop_path_prob: 0`` (its value changes every epoch and would recompile the network).
        compile_backend: ``torch.compile``'s backend (``inductor``; ``aot_eager`` checks the wiring without code
            generation).
        task: the old name of *objective*, still read from configs (give one of the two).
        genotype: the old name of *arch*, still read from configs (give one of the two).
    """

    #: the architecture trained when the config names none
    DEFAULT_ARCH = "darts_v2"

    def __init__(self, objective: Optional[PretextTask] = None, arch: Optional[str] = None,
                 space: Optional[SearchSpace] = None, auxiliary_weight: float = 0.4,
                 drop_path_prob: float = 0.0, lr: float = 0.1, lr_min: float = 0.0, momentum: float = 0.9,
                 nesterov: bool = True, weight_decay: float = 5e-4, warmup_epochs: int = 0, warmup_factor: float = 0.1,
                 grad_clip: Optional[float] = None, label_smoothing: float = 0.0, cutout: int = 0,
                 precise_bn_samples: int = 1024, compile: bool = False, compile_backend: str = "inductor",
                 task: Optional[PretextTask] = None, genotype: Optional[str] = None):
        super().__init__()
        me = type(self).__name__
        objective = renamed(me, "objective", objective, "task", task)
        if objective is None:
            raise ConfigError(f"{me} needs an objective; set model.init_args.objective, e.g. rotation")
        arch = renamed(me, "arch", arch, "genotype", genotype, default=self.DEFAULT_ARCH)
        check_range(me, "auxiliary_weight", auxiliary_weight, example=0.4)
        check_range(me, "drop_path_prob", drop_path_prob, high=1.0, example=0.2)
        check_range(me, "lr", lr, low_open=True, example=0.1)
        check_range(me, "lr_min", lr_min, example=0)
        check_range(me, "momentum", momentum, high=1.0, example=0.9)
        check_range(me, "weight_decay", weight_decay, example=5e-4)
        check_range(me, "warmup_epochs", warmup_epochs, example=5)
        check_range(me, "warmup_factor", warmup_factor, low_open=True, high=1.0, high_open=False, example=0.1)
        check_range(me, "grad_clip", grad_clip, example=5.0)
        check_range(me, "label_smoothing", label_smoothing, high=1.0, example=0.1)
        check_range(me, "cutout", cutout, example=16)
        check_range(me, "precise_bn_samples", precise_bn_samples, example=1024)
        if compile and drop_path_prob > 0:
            raise ConfigError(f"{me} compile: true needs drop_path_prob: 0 (the drop-path probability changes every "
                              "epoch and would recompile the network); set one of the two")
        # hparams are the arguments as given (under LightningCLI, the config's values): arch or its old name genotype
        self.save_hyperparameters(ignore=["objective", "task", "space"])
        self._arch_spec = arch
        self.objective = objective
        self.space = resolve_space(arch, space)
        self.arch = load_arch(self.space, arch)
        if drop_path_prob > 0 and not self.space.supports_drop_path():
            raise ConfigError(f"drop_path_prob={drop_path_prob}: the {self.space.name} space's networks have no drop "
                              "path; set drop_path_prob: 0")
        if label_smoothing > 0 and type(objective).loss is not PretextTask.loss:
            raise ConfigError(f"label_smoothing={label_smoothing} smooths a cross-entropy over classes, but the "
                              f"objective {type(objective).__name__} has a loss of its own; set label_smoothing: 0")
        self.net = self.space.network(self.arch, head=objective.head, input_channels=objective.input_channels)
        self._init_step_seed()
        self.best_acc = float("nan")
        self.best_epoch = -1
        self.acc_per_epoch: List[Optional[float]] = []  # held-out accuracy per epoch, None where none ran
        self.train_acc_per_epoch: List[Optional[float]] = []  # mean training accuracy per epoch
        self._train_hits = torch.zeros(2)
        self.last_train_loss = float("nan")
        self._fit_started = None
        self._macs: Optional[int] = None
        self.__dict__["_compiled_net"] = None  # not a submodule: it shares self.net's parameters

    @property
    def task(self) -> PretextTask:
        """The objective, under its old name (read-only)."""
        return self.objective

    @property
    def genotype(self) -> Any:
        """The architecture, under its old name (read-only)."""
        return self.arch

    def forward(self, x):
        return self.net(x)[0]

    def arch_label(self) -> str:
        """The architecture part of a run name: its registered name, else 8 hex digits of its JSON's SHA-1."""
        spec = self._arch_spec
        if isinstance(spec, str) and spec.strip() in self.space.registry():
            return spec.strip()
        return hashlib.sha1(self.space.to_json(self.arch).encode()).hexdigest()[:8]

    def setup(self, stage: str) -> None:
        self.choose_speedups(self.net)

    def _train_net(self):
        """The network the training forward runs: ``torch.compile``'d when ``compile`` is set (built once)."""
        if not self.hparams.get("compile"):
            return self.net
        if self.__dict__["_compiled_net"] is None:
            self.__dict__["_compiled_net"] = torch.compile(self.net, backend=self.hparams.compile_backend)
        return self.__dict__["_compiled_net"]

    def configure_callbacks(self):
        """:class:`~unnas.modules.train_callbacks.WeightAngle` (RLNAS's angle between the initial and the trained
        weights), unless the trainer already has one."""
        from unnas.modules.train_callbacks import WeightAngle

        if any(isinstance(c, WeightAngle) for c in self.trainer.callbacks):
            return []
        return [WeightAngle()]

    def _angle_callback(self):
        from unnas.modules.train_callbacks import WeightAngle

        if self._trainer is None:
            return None
        return next((c for c in self.trainer.callbacks if isinstance(c, WeightAngle)), None)

    def configure_optimizers(self):
        hp = self.hparams
        opt = torch.optim.SGD(self.net.parameters(), lr=hp.lr, momentum=hp.momentum, nesterov=hp.nesterov and hp.momentum > 0,
                              weight_decay=hp.weight_decay)
        epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else 1

        def factor(epoch: int) -> float:
            lr = cosine_lr(hp.lr, hp.lr_min, epoch, epochs)
            if epoch < hp.warmup_epochs:
                alpha = epoch / hp.warmup_epochs
                lr *= hp.warmup_factor * (1 - alpha) + alpha
            return lr / hp.lr

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        clip = gradient_clip_val if gradient_clip_val is not None else self.hparams.grad_clip
        if clip:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm=gradient_clip_algorithm or "norm")

    def _loss(self, logits, targets):
        if self.hparams.label_smoothing > 0:
            return F.cross_entropy(logits, targets, label_smoothing=self.hparams.label_smoothing)
        return self.objective.loss(logits, targets)

    def on_train_epoch_start(self) -> None:
        self.net.drop_path_prob = self.hparams.drop_path_prob * self.current_epoch / max(1, self.trainer.max_epochs or 1)
        if self._fit_started is None:
            self._fit_started = time.time()
        self._train_hits = torch.zeros(2, device=self.device)

    def training_step(self, batch, batch_idx):
        with self.step_rng(self.global_step):
            return self._train_step(batch)

    def _train_step(self, batch):
        x, y = self.objective.prepare(*batch, train=True)
        if self.hparams.cutout > 0:
            if x.dim() != 4:
                raise ValueError(f"cutout works on image inputs [B, C, H, W]; the {self.objective.name} objective "
                                 f"gives {list(x.shape)}: set cutout: 0")
            x = cutout(x, self.hparams.cutout)
        if self._macs is None:
            self._macs = count_macs(self.net, tuple(x.shape[1:]))
        logits, aux = self._train_net()(x)
        loss = self._loss(logits, y)
        if aux is not None:
            loss = loss + self.hparams.auxiliary_weight * self._loss(aux, y)
        check_finite(loss, "training")
        correct, count = self.objective.accuracy(logits.detach(), y)
        self._train_hits += torch.stack([correct.float(), torch.tensor(float(count), device=self.device)])
        self.last_train_loss = float(loss.detach())
        self.log("train/loss", loss.detach(), prog_bar=True)
        self.log("train/acc", correct.float() / count, prog_bar=True)
        return loss

    def on_train_epoch_end(self) -> None:
        hits = self.trainer.strategy.reduce(self._train_hits, reduce_op="sum")
        acc = (hits[0] / hits[1]).item() if hits[1] > 0 else None
        _set_epoch(self.train_acc_per_epoch, self.current_epoch, acc)

    def on_validation_epoch_start(self) -> None:
        if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking and self.hparams.precise_bn_samples > 0:
            dm = self.trainer.datamodule
            if dm is not None and hasattr(dm, "precise_bn_loader"):
                # Seeded (augmentation and drop path), so the statistics and a resumed run do not depend on the
                # global RNG stream.
                with self.step_rng(-1 - self.current_epoch):
                    batches = (self.objective.prepare(x.to(self.device), y.to(self.device), train=True)[0]
                               for x, y in dm.precise_bn_loader())
                    recompute_bn_stats(self.net, batches, self.hparams.precise_bn_samples)
        self._start_eval()

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        loss, acc = self._eval_metrics()
        self.log("val/loss", loss)
        self.log("val/acc", acc, prog_bar=True)
        if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:
            if math.isnan(self.best_acc) or acc > self.best_acc:
                self.best_acc, self.best_epoch = acc, self.current_epoch
            _set_epoch(self.acc_per_epoch, self.current_epoch, acc)
            self.log("val/best_acc", self.best_acc, prog_bar=True)

    def on_test_epoch_start(self) -> None:
        self._start_eval()

    def test_step(self, batch, batch_idx):
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        loss, acc = self._eval_metrics()
        self.log("test/loss", loss)
        self.log("test/acc", acc)

    def result(self) -> Dict[str, Any]:
        """The numbers a study records for this run: the best held-out accuracy and its epoch, the held-out and
        training accuracy of every epoch, the last epoch's training accuracy, ``weight_angle`` (RLNAS's angle
        between the initial and the current weights, radians; None without a
        :class:`~unnas.modules.train_callbacks.WeightAngle` or when the initial weights are unknown) and its value
        after every epoch ``weight_angle_per_epoch``, and ``rank_metric``, the field the study ranks the objective
        by (the objective's), and ``speedups``, the speed switches the run computed with and its device type
        (:class:`~unnas.modules.device_speedups.DeviceSpeedupsMixin`)."""
        angle = self._angle_callback()
        angles = angle.result(self) if angle is not None else {"weight_angle": None, "weight_angle_per_epoch": []}
        return {
            "best_acc": self.best_acc,
            "best_epoch": self.best_epoch,
            "acc_per_epoch": list(self.acc_per_epoch),
            "train_acc_per_epoch": list(self.train_acc_per_epoch),
            "train_acc": self.train_acc_per_epoch[-1] if self.train_acc_per_epoch else None,
            **angles,
            "rank_metric": self.objective.rank_metric,
            "final_train_loss": self.last_train_loss,
            "params": count_params(self.net),
            "macs": self._macs,
            "wall_time_s": (time.time() - self._fit_started) if self._fit_started else None,
            "speedups": self.speedups_chosen,
        }

    def on_fit_end(self) -> None:
        if self.trainer.is_global_zero:
            path = os.path.join(run_dir(self.trainer), "result.json")
            with open(path, "w") as f:
                # the record's keys ("genotype": the architecture, "task": the objective) are what readers expect
                json.dump({"space": self.space.name, "genotype": self.space.to_dict(self.arch),
                           "task": self.objective.name, **self.result(), "threads": torch.get_num_threads(),
                           "machine": machine()}, f, indent=1)
            self.print(f"best held-out accuracy {self.best_acc:.4f} at epoch {self.best_epoch}; written to {path}")

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["unnas_train"] = {"best_acc": self.best_acc, "best_epoch": self.best_epoch,
                                     "acc_per_epoch": list(self.acc_per_epoch),
                                     "train_acc_per_epoch": list(self.train_acc_per_epoch)}

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        check_checkpoint_kind(checkpoint, "ArchTraining")
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("unnas_train", {})
        self.best_acc = state.get("best_acc", float("nan"))
        self.best_epoch = state.get("best_epoch", -1)
        self.acc_per_epoch = list(state.get("acc_per_epoch", []))
        self.train_acc_per_epoch = list(state.get("train_acc_per_epoch", []))
