"""Weight-sharing search as a LightningModule: bilevel optimisation of any space's supernet under any objective,
with any search strategy."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Dict, List, Optional, Sequence, Tuple

import lightning as L
import torch
from torch import nn

from pretext_tasks.base import PretextTask
from unnas.errors import ConfigError
from unnas.modules.common import (HeldOutEvalMixin, StepSeedMixin, check_checkpoint_kind, check_finite, check_range,
                                  cosine_lr, renamed)
from unnas.modules.device_speedups import DeviceSpeedupsMixin
from unnas.modules.strategies import FirstOrder, SearchStrategy
from unnas.modules.strategies.base import ArchSample, hard_weights, strategy_name
from unnas.spaces import DartsSpace, GroundTruth, SearchSpace


class WeightSharingSearch(DeviceSpeedupsMixin, StepSeedMixin, HeldOutEvalMixin, L.LightningModule):
    """Weight-sharing search (manual optimisation): per step one architecture update on the architecture split, then
    one weight update on the weight split, as DARTS and UnNAS do. Works on any space's supernet and any
    :class:`~unnas.modules.strategies.SearchStrategy`. The module computes and records (:attr:`alpha_history`,
    checkpoints); :class:`~unnas.modules.search_callbacks.SearchArtefacts`, added by default, writes the files.

    Args:
        objective: the objective (``pretext_tasks.Rotation``, ``Colorization``, ``Jigsaw``, ``Supervised``, or any
            registered one).
        space: the search space and supernet shape (default ``DartsSpace()``: DARTS's C=16, 8 cells, CIFAR stem;
            ``NB201Space()``: NAS-Bench-201's C=16, N=5).
        ground_truth: known accuracies of derived cells, logged every epoch as ``gt/acc`` (default: the space's
            own ground truth, e.g. NAS-Bench-201's CIFAR-10 table; DARTS has none).
        search_strategy: the search strategy (:mod:`unnas.modules.strategies`): how alphas weigh the ops, how their
            gradients are computed, epoch hooks and derivation: ``FirstOrder`` (default, UnNAS), ``SecondOrder``
            (DARTS unrolled), ``GDAS``, ``PCDARTS``, ``RandomWS``, ``DDPNAS`` (these two have no architecture step)
            or ``TNDNAS``.
        lr / lr_min / momentum / nesterov / weight_decay: SGD on the weights with a per-epoch cosine from lr to lr_min
            (DARTS: plain momentum; NAS-Bench-201's DARTS runs: Nesterov).
        arch_lr / arch_betas / arch_weight_decay: Adam on the alphas (DARTS: 3e-4, (0.5, 0.999), 1e-3; arch_lr 0
            keeps the alphas fixed).
        grad_clip: gradient-norm clip of the weights (0 disables; the alphas are never clipped).
        arch_start_epoch: architecture updates begin once ``epoch + batch/len >= arch_start_epoch`` (UnNAS's
            ARCH_EPOCH; 0 updates from the first step).
        task: the old name of *objective*, still read from configs (give one of the two).
        strategy: the old name of *search_strategy*, still read from configs (give one of the two).
    """

    def __init__(self, objective: Optional[PretextTask] = None, space: Optional[SearchSpace] = None,
                 ground_truth: Optional[GroundTruth] = None, search_strategy: Optional[SearchStrategy] = None,
                 lr: float = 0.025, lr_min: float = 0.001, momentum: float = 0.9, nesterov: bool = False,
                 weight_decay: float = 3e-4,
                 arch_lr: float = 3e-4, arch_betas: Tuple[float, float] = (0.5, 0.999), arch_weight_decay: float = 1e-3,
                 grad_clip: float = 5.0, arch_start_epoch: float = 0.0,
                 task: Optional[PretextTask] = None, strategy: Optional[SearchStrategy] = None):
        super().__init__()
        me = type(self).__name__
        objective = renamed(me, "objective", objective, "task", task)
        if objective is None:
            raise ConfigError(f"{me} needs an objective; set model.init_args.objective, e.g. rotation")
        search_strategy = renamed(me, "search_strategy", search_strategy, "strategy", strategy)
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
        self.save_hyperparameters(ignore=["objective", "task", "search_strategy", "strategy", "space", "ground_truth"])
        self.automatic_optimization = False
        self.objective = objective
        self.space = space if space is not None else DartsSpace()
        self.ground_truth = ground_truth if ground_truth is not None else self.space.ground_truth()
        self.search_strategy = search_strategy or FirstOrder()
        self.supernet = self.space.supernet(head=objective.head, input_channels=objective.input_channels)
        self.search_strategy.configure_supernet(self.supernet)
        self.search_strategy.configure_cost(self.cell_cost)
        self.supernet.set_op_weights(self.search_strategy.op_weights)
        self._costs: Dict[str, Dict[str, float]] = {}
        self._input_shape: Optional[Tuple[int, ...]] = None
        self._init_step_seed()
        self.search_steps = 0
        self.alpha_history: List[Dict[str, Any]] = []
        # the architecture-split batches of the last training steps, which evaluate_samples scores samples on
        self._held_out: List[Tuple[torch.Tensor, torch.Tensor]] = []

    @property
    def task(self) -> PretextTask:
        """The objective, under its old name (read-only)."""
        return self.objective

    def forward(self, x):
        return self.supernet(x)

    def derived_arch(self) -> Any:
        """The architecture the search strategy derives from the current alphas (an architecture of the space)."""
        return self.search_strategy.derive(self.supernet)

    def genotype(self) -> Any:
        """:meth:`derived_arch` under its old name."""
        return self.derived_arch()

    def setup(self, stage: str) -> None:
        self.choose_speedups(self.supernet)
        ddp = getattr(self.trainer.strategy, "_ddp_kwargs", None)
        if (not self.search_strategy.runs_every_op and self.trainer.world_size > 1 and ddp is not None
                and not ddp.get("find_unused_parameters", False)):
            raise ConfigError(f"{type(self.search_strategy).__name__} runs one op per edge, so DDP must allow unused "
                              "parameters; set trainer.strategy: ddp_find_unused_parameters_true")

    def configure_callbacks(self):
        """:class:`~unnas.modules.search_callbacks.SearchArtefacts` (derived architectures, alphas, plots), unless the trainer
        already has one (configured in ``trainer.callbacks``)."""
        from unnas.modules.search_callbacks import SearchArtefacts

        if any(isinstance(c, SearchArtefacts) for c in self.trainer.callbacks):
            return []
        return [SearchArtefacts()]

    def strategy_name(self) -> str:
        """The search strategy in run names, tags and folders: its class name in snake case (``first_order``,
        ``gdas``, ``pcdarts``, ``rsws``; :func:`~unnas.modules.strategies.base.strategy_name`)."""
        return strategy_name(type(self.search_strategy))

    def arch_label(self) -> str:
        """The architecture part of a run name: a search has none yet, so ``search-<strategy>``."""
        return f"search-{self.strategy_name()}"

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

    def on_train_start(self) -> None:
        if not self.search_strategy.arch_step:
            self.print(f"{type(self.search_strategy).__name__} has no architecture step: the alphas get no gradients, "
                       "and arch_lr, arch_betas, arch_weight_decay and arch_start_epoch are not used")

    def training_step(self, batch, batch_idx):
        if not isinstance(batch, dict) or set(batch) != {"weights", "arch"}:
            raise RuntimeError(f"{type(self).__name__} needs the training set split in two: set data.train_portion "
                               "(DARTS: 0.5)")
        if self.search_strategy.eval_batches:
            self._held_out = (self._held_out + [tuple(batch["arch"])])[-self.search_strategy.eval_batches:]
        with self.step_rng(self.search_steps):
            return self._search_step(batch, batch_idx)

    def _search_step(self, batch, batch_idx):
        w_opt, a_opt = self.optimizers()
        xw, yw = self.objective.prepare(*batch["weights"], train=True)
        xa, ya = self.objective.prepare(*batch["arch"], train=True)
        self._input_shape = tuple(xw.shape[1:])
        progress = self.current_epoch + batch_idx / max(1, self.trainer.num_training_batches)
        if self.search_strategy.arch_step and progress >= self.hparams.arch_start_epoch:
            a_opt.zero_grad()
            arch_loss = self.search_strategy.arch_gradients(self.supernet, self.objective.loss, (xw, yw), (xa, ya),
                                                            w_opt.optimizer)
            check_finite(arch_loss, "architecture")
            self._reduce_arch_grads()
            a_opt.step()
            self.log("arch/loss", arch_loss, prog_bar=True)
        w_opt.zero_grad()
        logits = self.supernet(xw)
        loss = self.objective.loss(logits, yw)
        check_finite(loss, "weight")
        self.manual_backward(loss)
        self.clip_gradients(w_opt, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm")
        w_opt.step()
        # The weight step's backward also filled the alphas' grads; the next architecture step replaces them.
        correct, count = self.objective.accuracy(logits.detach(), yw)
        self.search_steps += 1
        self.log("lr", w_opt.optimizer.param_groups[0]["lr"])
        self.log("train/loss", loss.detach(), prog_bar=True)
        self.log("train/acc", correct.float() / count, prog_bar=True)
        self.log("search_step", float(self.search_steps))
        return loss.detach()

    def on_validation_epoch_start(self) -> None:
        self._start_eval()

    def validation_step(self, batch, batch_idx):
        # a sampling strategy draws architectures here too: seeded per batch, so every pass repeats exactly
        with self.step_rng(-1 - batch_idx):
            self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        loss, acc = self._eval_metrics()
        self.log("val/loss", loss)
        self.log("val/acc", acc, prog_bar=True)

    def on_train_epoch_start(self) -> None:
        self.search_strategy.on_epoch_start(self.current_epoch, self.trainer.max_epochs)
        for name, value in self.search_strategy.state_dict().items():
            if isinstance(value, (int, float)):
                self.log(f"strategy/{name}", float(value))

    def on_train_epoch_end(self) -> None:
        self.lr_schedulers().step()
        self.finish_epoch()

    def finish_epoch(self) -> Dict[str, Any]:
        """End the current training epoch once: the strategy's :meth:`~SearchStrategy.on_epoch_end`, then the
        epoch's derived architecture, alphas, strategy state and true accuracy appended to :attr:`alpha_history`
        (and ``gt/acc`` logged). Returns that entry; later calls in the same epoch return it unchanged (the
        artefact writers call this from their own epoch-end hook, which Lightning runs before the module's)."""
        epoch = self.current_epoch
        if self.alpha_history and self.alpha_history[-1]["epoch"] == epoch:
            return self.alpha_history[-1]
        with self._epoch_rng(epoch):
            evaluate = self.evaluate_samples if self.search_strategy.eval_batches else None
            self.search_strategy.on_epoch_end(epoch, self.trainer.max_epochs, evaluate=evaluate)
        arch = self.derived_arch()
        weights = self.supernet.arch_weights()
        entry = {"epoch": epoch, "genotype": self.space.to_dict(arch),
                 **{k: w.round(6).tolist() for k, w in weights.items()}}
        entry.update({f"{k}_edges": w.round(6).tolist() for k, w in self.supernet.arch_edge_weights().items()})
        state = self.search_strategy.state_dict()
        if state:
            entry["strategy"] = state
        if self.ground_truth is not None:
            acc, how = self.ground_truth.lookup(arch)
            entry["true_acc"], entry["true_acc_match"] = acc, how
            self.log("gt/acc", float("nan") if acc is None else float(acc))
        cells = self.search_strategy.cells(self.supernet)
        if cells:
            entry["cells"] = [self._cell_record(c) for c in cells]
        if self.trainer.world_size > 1:
            # DDP replicas must hold the same alphas (their gradients are averaged); check it rather than trust it.
            flat = torch.cat([a.detach().flatten() for a in self.supernet.arch_parameters()])
            gathered = self.all_gather(flat)
            entry["world_size"] = int(gathered.shape[0])
            entry["rank_max_abs_diff"] = float((gathered - gathered[0]).abs().max())
            if entry["rank_max_abs_diff"] > 0:
                raise RuntimeError(f"alphas differ across DDP ranks by {entry['rank_max_abs_diff']:.3g} after epoch {epoch}")
        self.alpha_history.append(entry)
        return entry

    def cell_cost(self, arch: Any) -> Dict[str, float]:
        """``{"params", "macs"}`` of *arch*'s network at this search's shape (the space's ``network`` with the
        objective's head, as trained under it) for one input as the objective feeds the supernet (the shape of
        the last training batch; before any, 3x32x32 with the objective's input channels). Cached per
        architecture."""
        from unnas.spaces.complexity import count_macs, count_params

        key = self.space.format(arch)
        if key not in self._costs:
            net = self.space.network(arch, head=self.objective.head, input_channels=self.objective.input_channels)
            shape = self._input_shape or (self.objective.input_channels, 32, 32)
            self._costs[key] = {"params": float(count_params(net)), "macs": float(count_macs(net, shape))}
        return self._costs[key]

    def _cell_record(self, cell: Dict[str, Any]) -> Dict[str, Any]:
        arch = cell["genotype"]
        out = {"genotype": self.space.to_dict(arch),
               "score": None if cell.get("score") is None else float(cell["score"]), **self.cell_cost(arch)}
        if self.ground_truth is not None:
            out["true_acc"], out["true_acc_match"] = self.ground_truth.lookup(arch)
        return out

    @contextmanager
    def _epoch_rng(self, epoch: int):
        """torch's generator seeded from (base seed, epoch) alone: the epoch-end draws are equal on every rank and
        after a resume."""
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed((self.base_seed * 1_000_003 + 15_485_863 * (epoch + 1) + 1) % (2**63 - 1))
            yield

    @torch.no_grad()
    def evaluate_samples(self, samples: Sequence[ArchSample]) -> List[float]:
        """The held-out accuracy of every hard sample (per alpha key the op of every edge) with the shared weights.

        Every sample is scored on the same batches: the architecture-split batches of the last
        ``search_strategy.eval_batches`` training steps (held out from the weights, and the split DARTS chooses
        architectures on; the validation loader is the test split), prepared as for evaluation with the objective's
        seeded generator. The supernet runs in eval mode with its BatchNorms normalising by the batch's statistics
        (NAS-Bench-201's documented RANDOM-NAS runs, ``track_running_stats 0``: the running statistics mix every
        sampled cell), without gradients; buffers, modes and the strategy's op weights are restored afterwards.
        Counts are summed over DDP ranks, so every rank gets the same scores."""
        if not self._held_out:
            raise RuntimeError(f"{type(self.search_strategy).__name__} scores samples on the architecture split, but no "
                               "training step has run in this epoch")
        generator = self.objective.eval_generator()
        batches = [self.objective.prepare(*b, train=False, generator=generator) for b in self._held_out]
        net = self.supernet
        buffers = {n: b.clone() for n, b in net.named_buffers()}
        was_training = net.training
        net.eval()
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
        counts = torch.zeros(len(samples), 2, device=self.device)
        try:
            for i, sample in enumerate(samples):
                net.set_op_weights(lambda alpha, key, s=sample: hard_weights(alpha, s[key]))
                for x, y in batches:
                    correct, count = self.objective.accuracy(net(x), y)
                    counts[i, 0] += correct.float()
                    counts[i, 1] += float(count)
        finally:
            net.set_op_weights(self.search_strategy.op_weights)
            net.train(was_training)
            for n, b in net.named_buffers():
                b.copy_(buffers[n])
        if self._trainer is not None and self.trainer.world_size > 1:
            counts = self.trainer.strategy.reduce(counts, reduce_op="sum")
        return (counts[:, 0] / counts[:, 1].clamp_min(1)).tolist()

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["unnas_search"] = {"search_steps": self.search_steps, "alpha_history": self.alpha_history,
                                      "strategy": self.search_strategy.state_dict()}

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        check_checkpoint_kind(checkpoint, "WeightSharingSearch")
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("unnas_search", {})
        self.search_steps = state.get("search_steps", 0)
        self.alpha_history = state.get("alpha_history", [])
        self.search_strategy.load_state_dict(state.get("strategy", {}))


#: the old name of :class:`WeightSharingSearch`, kept so that configs naming ``unnas.modules.DartsSearch`` (or
#: ``unnas.modules.search.DartsSearch``) and recorded runs keep loading
DartsSearch = WeightSharingSearch
