"""DARTS search as a LightningModule: bilevel optimisation of the supernet under any objective."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple

import lightning as L
import torch

from pretext_tasks.base import PretextTask
from unnas.modules.common import (HeldOutEvalMixin, StepSeedMixin, check_finite, check_range, cosine_lr, log_image,
                                  run_dir)
from unnas.modules.strategies import FirstOrder, SearchStrategy
from unnas.spaces import DartsSpace, GroundTruth, SearchSpace


class DartsSearch(StepSeedMixin, HeldOutEvalMixin, L.LightningModule):
    """DARTS search (manual optimisation): per step one architecture update on the architecture split, then one
    weight update on the weight split, as DARTS and UnNAS do. Works on any space's supernet.

    Args:
        task: the objective (``pretext_tasks.Rotation``, ``Colorization``, ``Jigsaw``, ``Supervised``).
        space: the search space and supernet shape (default ``DartsSpace()``: DARTS's C=16, 8 cells, CIFAR stem;
            ``NB201Space()``: NAS-Bench-201's C=16, N=5).
        ground_truth: known accuracies of derived cells, logged every epoch as ``gt/acc`` (default: the space's
            own ground truth, e.g. NAS-Bench-201's CIFAR-10 table; DARTS has none).
        strategy: how architecture gradients are computed: ``FirstOrder`` (default, UnNAS) or ``SecondOrder``.
        lr / lr_min / momentum / nesterov / weight_decay: SGD on the weights with a per-epoch cosine from lr to lr_min
            (DARTS: plain momentum; NAS-Bench-201's DARTS runs: Nesterov).
        arch_lr / arch_betas / arch_weight_decay: Adam on the alphas (DARTS: 3e-4, (0.5, 0.999), 1e-3; arch_lr 0
            keeps the alphas fixed).
        grad_clip: gradient-norm clip of the weights (0 disables; the alphas are never clipped).
        arch_start_epoch: architecture updates begin once ``epoch + batch/len >= arch_start_epoch`` (UnNAS's
            ARCH_EPOCH; 0 updates from the first step).
    """

    def __init__(self, task: PretextTask, space: Optional[SearchSpace] = None, ground_truth: Optional[GroundTruth] = None,
                 strategy: Optional[SearchStrategy] = None,
                 lr: float = 0.025, lr_min: float = 0.001, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay: float = 3e-4,
                 arch_lr: float = 3e-4, arch_betas: Tuple[float, float] = (0.5, 0.999), arch_weight_decay: float = 1e-3,
                 grad_clip: float = 5.0, arch_start_epoch: float = 0.0):
        super().__init__()
        me = type(self).__name__
        check_range(me, "lr", lr, low_open=True, example=0.025)
        check_range(me, "lr_min", lr_min, example=0.001)
        check_range(me, "momentum", momentum, high=1.0, example=0.9)
        check_range(me, "weight_decay", weight_decay, example=3e-4)
        check_range(me, "arch_lr", arch_lr, example=3e-4)
        for beta in arch_betas:
            check_range(me, "arch_betas", beta, high=1.0, example="[0.5, 0.999]")
        check_range(me, "arch_weight_decay", arch_weight_decay, example=1e-3)
        check_range(me, "grad_clip", grad_clip, example=5.0)
        check_range(me, "arch_start_epoch", arch_start_epoch, example=0)
        self.save_hyperparameters(ignore=["task", "strategy", "space", "ground_truth"])
        self.automatic_optimization = False
        self.task = task
        self.space = space if space is not None else DartsSpace()
        self.ground_truth = ground_truth if ground_truth is not None else self.space.ground_truth()
        self.strategy = strategy or FirstOrder()
        self.supernet = self.space.supernet(head=task.head, input_channels=task.input_channels)
        self._init_step_seed()
        self.search_steps = 0
        self.alpha_history: List[Dict[str, Any]] = []

    def forward(self, x):
        return self.supernet(x)

    def genotype(self):
        return self.supernet.genotype()

    def arch_label(self) -> str:
        """The architecture part of a run name: a search has none yet."""
        return "search"

    def configure_optimizers(self):
        hp = self.hparams
        w_opt = torch.optim.SGD(self.supernet.weight_parameters(), lr=hp.lr, momentum=hp.momentum,
                                nesterov=hp.nesterov and hp.momentum > 0, weight_decay=hp.weight_decay)
        a_opt = torch.optim.Adam(self.supernet.arch_parameters(), lr=hp.arch_lr, betas=tuple(hp.arch_betas),
                                 weight_decay=hp.arch_weight_decay)
        epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else 1
        # Per-epoch cosine stepped at epoch end: epoch e trains at lr_min + (lr - lr_min)(1 + cos(pi e / E))/2,
        # DARTS's values under its PyTorch 0.3 scheduler.
        sched = torch.optim.lr_scheduler.LambdaLR(w_opt, lambda e: cosine_lr(hp.lr, hp.lr_min, e, epochs) / hp.lr)
        return [w_opt, a_opt], [sched]

    def _reduce_arch_grads(self) -> None:
        if self.trainer.world_size > 1:
            for a in self.supernet.arch_parameters():
                a.grad = self.trainer.strategy.reduce(a.grad, reduce_op="mean")

    def training_step(self, batch, batch_idx):
        if not isinstance(batch, dict) or set(batch) != {"weights", "arch"}:
            raise RuntimeError("DartsSearch needs the training set split in two: set data.train_portion (DARTS: 0.5)")
        with self.step_rng(self.search_steps):
            return self._search_step(batch, batch_idx)

    def _search_step(self, batch, batch_idx):
        w_opt, a_opt = self.optimizers()
        xw, yw = self.task.prepare(*batch["weights"], train=True)
        xa, ya = self.task.prepare(*batch["arch"], train=True)
        progress = self.current_epoch + batch_idx / max(1, self.trainer.num_training_batches)
        if progress >= self.hparams.arch_start_epoch:
            a_opt.zero_grad()
            arch_loss = self.strategy.arch_gradients(self.supernet, self.task.loss, (xw, yw), (xa, ya), w_opt.optimizer)
            check_finite(arch_loss, "architecture")
            self._reduce_arch_grads()
            a_opt.step()
            self.log("arch/loss", arch_loss, prog_bar=True)
        w_opt.zero_grad()
        logits = self.supernet(xw)
        loss = self.task.loss(logits, yw)
        check_finite(loss, "weight")
        self.manual_backward(loss)
        self.clip_gradients(w_opt, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm")
        w_opt.step()
        # The weight step's backward also filled the alphas' grads; the next architecture step replaces them.
        correct, count = self.task.accuracy(logits.detach(), yw)
        self.search_steps += 1
        self.log("lr", w_opt.optimizer.param_groups[0]["lr"])
        self.log("train/loss", loss.detach(), prog_bar=True)
        self.log("train/acc", correct.float() / count, prog_bar=True)
        self.log("search_step", float(self.search_steps))
        return loss.detach()

    def on_validation_epoch_start(self) -> None:
        self._start_eval()

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        loss, acc = self._eval_metrics()
        self.log("val/loss", loss)
        self.log("val/acc", acc, prog_bar=True)

    def on_train_epoch_end(self) -> None:
        self.lr_schedulers().step()
        self._record_epoch(self.current_epoch)

    def _record_epoch(self, epoch: int) -> None:
        genotype = self.genotype()
        weights = self.supernet.arch_weights()
        entry = {"epoch": epoch, "genotype": self.space.to_dict(genotype),
                 **{k: w.round(6).tolist() for k, w in weights.items()}}
        if self.ground_truth is not None:
            acc, how = self.ground_truth.lookup(genotype)
            entry["true_acc"], entry["true_acc_match"] = acc, how
            self.log("gt/acc", float("nan") if acc is None else float(acc))
        if self.trainer.world_size > 1:
            # DDP replicas must hold the same alphas (their gradients are averaged); check it rather than trust it.
            flat = torch.cat([a.detach().flatten() for a in self.supernet.arch_parameters()])
            gathered = self.all_gather(flat)
            entry["world_size"] = int(gathered.shape[0])
            entry["rank_max_abs_diff"] = float((gathered - gathered[0]).abs().max())
            if entry["rank_max_abs_diff"] > 0:
                raise RuntimeError(f"alphas differ across DDP ranks by {entry['rank_max_abs_diff']:.3g} after epoch {epoch}")
        self.alpha_history.append(entry)
        if not self.trainer.is_global_zero or self.trainer.sanity_checking:
            return
        truth = ""
        if self.ground_truth is not None:
            truth = (f"  true accuracy {entry['true_acc']:.2f}% ({entry['true_acc_match']})" if entry["true_acc"] is not None
                     else f"  true accuracy unknown (not in {self.ground_truth.coverage()})")
        self.print(f"epoch {epoch} genotype = {self.space.format(genotype)}{truth}")
        out = run_dir(self.trainer)
        os.makedirs(os.path.join(out, "genotypes"), exist_ok=True)
        self.space.save(genotype, os.path.join(out, "genotypes", f"epoch_{epoch:03d}.json"))
        with open(os.path.join(out, "alphas.json"), "w") as f:
            json.dump({"space": self.space.name, "primitives": list(self.supernet.primitives), "epochs": self.alpha_history}, f)
        from unnas.spaces.plots import plot_alpha_evolution, plot_alphas, plot_true_accuracy

        labels = {k: self.supernet.edge_labels(k) for k in weights}
        heatmap = os.path.join(out, "alphas", f"epoch_{epoch:03d}.png")
        plot_alphas(weights, labels, self.supernet.primitives, heatmap, title=f"softmax(alpha), epoch {epoch}")
        drawing = os.path.join(out, "cells", f"epoch_{epoch:03d}.png")
        self.space.draw(genotype, drawing, title=f"epoch {epoch}")
        plot_alpha_evolution(self.alpha_history, self.supernet.primitives, os.path.join(out, "alphas_evolution.png"),
                             keys=list(weights))
        log_image(self.trainer, "alphas", heatmap)
        log_image(self.trainer, "cells", drawing)
        if self.ground_truth is not None:
            curve = os.path.join(out, "true_accuracy.png")
            plot_true_accuracy(self.alpha_history, self.ground_truth.coverage(), curve)
            log_image(self.trainer, "true_accuracy", curve)
        for logger in self.trainer.loggers:
            if hasattr(logger, "log_text"):
                logger.log_text(key="genotype", columns=["epoch", "genotype"], data=[[epoch, self.space.format(genotype)]])

    def on_fit_end(self) -> None:
        if not self.trainer.is_global_zero:
            return
        genotype = self.genotype()
        paths = [os.path.join(run_dir(self.trainer), "genotype.json")]
        ckpt = self.trainer.checkpoint_callback
        if ckpt is not None and getattr(ckpt, "dirpath", None):
            os.makedirs(ckpt.dirpath, exist_ok=True)
            paths.append(os.path.join(ckpt.dirpath, "genotype.json"))
        for path in paths:
            self.space.save(genotype, path)
        self.print(f"final genotype (after the last epoch) = {self.space.format(genotype)}\nwritten to {', '.join(paths)}")

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["unnas_search"] = {"search_steps": self.search_steps, "alpha_history": self.alpha_history}

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("unnas_search", {})
        self.search_steps = state.get("search_steps", 0)
        self.alpha_history = state.get("alpha_history", [])

