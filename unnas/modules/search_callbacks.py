"""The files a search writes, as a Lightning callback: the search module computes and records, this writes."""

from __future__ import annotations

import json
import os
from typing import Any, Dict

import lightning as L

from unnas.modules.common import log_image, run_dir


class SearchArtefacts(L.Callback):
    """Per epoch (rank 0) into the run folder: the derived architecture as ``genotypes/epoch_NNN.json`` (and on the
    console and in W&B's ``genotype`` table), the whole alpha history ``alphas.json``, the softmaxed alphas as
    ``alphas/epoch_NNN.png``, their mean per op over the epochs ``alphas_evolution.png``, the cell drawing
    ``cells/epoch_NNN.png`` (the images also to W&B) and, with ground truth, ``true_accuracy.png``. When the strategy
    returns several cells (:meth:`~unnas.modules.strategies.SearchStrategy.cells`): ``pareto.png``, their held-out
    score (and true accuracy, where known) against multiply-adds with the Pareto front marked, and ``front.json``,
    the cells on the front. At the end of fit: ``genotype.json`` in the run folder and beside the checkpoints.

    :class:`~unnas.modules.WeightSharingSearch` adds one by default; list it in ``trainer.callbacks`` to set its
    options.

    Args:
        plots: draw the images (``false`` keeps the JSON files and the console lines only).
    """

    def __init__(self, plots: bool = True):
        self.plots = plots

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        entry = pl_module.finish_epoch()
        if trainer.is_global_zero and not trainer.sanity_checking:
            self.write_epoch(trainer, pl_module, entry)

    def write_epoch(self, trainer: L.Trainer, module: L.LightningModule, entry: Dict[str, Any]) -> None:
        """Write the files of one :attr:`~unnas.modules.WeightSharingSearch.alpha_history` *entry*."""
        space, epoch = module.space, entry["epoch"]
        arch = space.from_dict(entry["genotype"])
        truth = ""
        if module.ground_truth is not None:
            truth = (f"  true accuracy {entry['true_acc']:.2f}% ({entry['true_acc_match']})"
                     if entry["true_acc"] is not None else f"  true accuracy unknown (not in {module.ground_truth.coverage()})")
        module.print(f"epoch {epoch} genotype = {space.format(arch)}{truth}")
        out = run_dir(trainer)
        os.makedirs(os.path.join(out, "genotypes"), exist_ok=True)
        space.save(arch, os.path.join(out, "genotypes", f"epoch_{epoch:03d}.json"))
        with open(os.path.join(out, "alphas.json"), "w") as f:
            json.dump({"space": space.name, "primitives": list(module.supernet.primitives),
                       "speedups": getattr(module, "speedups_chosen", None), "epochs": module.alpha_history}, f)
        for logger in trainer.loggers:
            if hasattr(logger, "log_text"):
                logger.log_text(key="genotype", columns=["epoch", "genotype"], data=[[epoch, space.format(arch)]])
        if entry.get("cells"):
            self.write_cells(trainer, entry, out)
        if self.plots:
            self._plot(trainer, module, arch, epoch, out)

    def write_cells(self, trainer: L.Trainer, entry: Dict[str, Any], out: str) -> None:
        """``front.json`` (the cells no other cell beats on both held-out score and multiply-adds, cheapest first)
        and, with plots, ``pareto.png`` of an epoch's ``cells``."""
        from unnas.pareto import pareto_front, plot_pareto

        cells = [c for c in entry["cells"] if c.get("score") is not None]
        on = pareto_front([(c["macs"], c["score"]) for c in cells])
        front = sorted((c for c, keep in zip(cells, on) if keep), key=lambda c: c["macs"])
        with open(os.path.join(out, "front.json"), "w") as f:
            json.dump({"epoch": entry["epoch"], "cells": len(entry["cells"]), "front": front}, f, indent=1)
        if not self.plots or not cells:
            return
        series = {"held-out accuracy (shared weights), %": [(c["macs"] / 1e6, 100 * c["score"]) for c in cells]}
        known = [c for c in cells if c.get("true_acc") is not None]
        if known:
            series["true accuracy, %"] = [(c["macs"] / 1e6, c["true_acc"]) for c in known]
        path = plot_pareto(series, os.path.join(out, "pareto.png"), xlabel="multiply-adds of the network (M)",
                           ylabel="accuracy (%)", title=f"{len(entry['cells'])} cells of epoch {entry['epoch']}")
        log_image(trainer, "pareto", path)

    @staticmethod
    def _plot(trainer: L.Trainer, module: L.LightningModule, arch: Any, epoch: int, out: str) -> None:
        from unnas.spaces.plots import plot_alpha_evolution, plot_alphas, plot_true_accuracy

        supernet = module.supernet
        weights = supernet.arch_weights()
        labels = {k: supernet.edge_labels(k) for k in weights}
        heatmap = os.path.join(out, "alphas", f"epoch_{epoch:03d}.png")
        plot_alphas(weights, labels, supernet.primitives, heatmap, title=f"softmax(alpha), epoch {epoch}")
        drawing = os.path.join(out, "cells", f"epoch_{epoch:03d}.png")
        module.space.draw(arch, drawing, title=f"epoch {epoch}")
        plot_alpha_evolution(module.alpha_history, supernet.primitives, os.path.join(out, "alphas_evolution.png"),
                             keys=list(weights))
        log_image(trainer, "alphas", heatmap)
        log_image(trainer, "cells", drawing)
        if module.ground_truth is not None:
            curve = os.path.join(out, "true_accuracy.png")
            plot_true_accuracy(module.alpha_history, module.ground_truth.coverage(), curve)
            log_image(trainer, "true_accuracy", curve)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        space, arch = pl_module.space, pl_module.derived_arch()
        paths = [os.path.join(run_dir(trainer), "genotype.json")]
        ckpt = trainer.checkpoint_callback
        if ckpt is not None and getattr(ckpt, "dirpath", None):
            os.makedirs(ckpt.dirpath, exist_ok=True)
            paths.append(os.path.join(ckpt.dirpath, "genotype.json"))
        for path in paths:
            space.save(arch, path)
        # one line on stdout after the progress bar has closed, whatever the progress bar and the loggers do
        strategy = type(getattr(pl_module, "search_strategy", None)).__name__
        print(f"unnas: search finished ({space.name}, {strategy}, {trainer.current_epoch} epochs): final genotype "
              f"(after the last epoch) = {space.format(arch)}; written to {', '.join(paths)}", flush=True)
