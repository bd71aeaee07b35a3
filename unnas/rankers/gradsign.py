"""GradSign (Zhang & Jia, "GradSign: Model Performance Inference with Theoretical Insights", ICLR 2022; official
code cmu-catalyst/GradSign, ``get_grad_conflict`` in ``zero-cost-nas-code/foresight/pruners/measures/grad_conflict.py``
and ``naswot-code/gradsign.py``).

Every sample ``i`` of the batch is run through the network alone (a batch of one, training mode) and gives the loss
gradient ``g_i`` of every weight ``θ`` of every ``Conv2d`` and ``Linear`` layer (biases, BatchNorm and other
parameters are not counted; a layer the forward does not use counts as a zero gradient). The score is

    GradSign = Σ_θ | Σ_i sign(g_{i,θ}) |

the number of samples whose gradient points the same way, summed over the weights: ``N`` for a weight on which all
``N`` samples agree, 0 where they cancel. As the official ``np.nansum`` does, a weight whose gradient is NaN for some
sample is left out.

BatchNorm: like the official code, the network runs in training mode on one sample at a time, so each BatchNorm
normalises a sample's feature map with that sample's own per-channel spatial statistics (no ``torch.func``, no eval
mode). A BatchNorm that would see one value per channel (a 1x1 feature map, or ``BatchNorm1d``) cannot do that; it is
a one-line :class:`~unnas.errors.ConfigError` naming the fix.

Like ``grad_norm`` it takes its loss from :class:`~unnas.rankers.base.LossRanker`: cross-entropy on labels, or a
pretext objective's loss (label-free). With an objective, every row of the objective's prepared inputs is one sample
with its own target (rotation: each of the 4 rotated copies of an image; jigsaw: each image's tile stack and
permutation; colorization: each image with the mean loss over its pixels; random labels: each image). A contrastive
objective is refused: its NT-Xent loss compares a view with the other views of the batch, and a single pair of views
has a constant zero loss, so it has no per-sample gradient.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor, nn

from unnas.errors import ConfigError
from unnas.rankers.base import LossRanker, RankBatch, logits_of, weight_layers

LossFn = Callable[[Tensor, Tensor], Tensor]


def sign_sum(grads: Tensor) -> int:
    """GradSign of a stack of per-sample gradients ``[N, ...]`` (one row per sample, any trailing shape):
    ``Σ_θ |Σ_i sign(g_{i,θ})|``; a weight with a NaN gradient in any row is left out (the official
    ``np.nansum``)."""
    g = grads.detach().flatten(1)
    counts = torch.sign(torch.nan_to_num(g, nan=0.0)).sum(dim=0)
    return int(counts.abs().masked_fill(torch.isnan(g).any(dim=0), 0).to(torch.int64).sum())


def _one_sample_backward(net: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> None:
    net.zero_grad(set_to_none=True)
    try:
        loss = loss_fn(logits_of(net, x), y)
    except ValueError as e:
        if "more than 1 value per channel" in str(e):
            raise ConfigError("gradsign runs each sample alone in training mode (as the official code does), and a "
                              "BatchNorm layer of this network sees a single value per channel (a 1x1 feature map); "
                              "use larger input images") from None
        raise
    loss.backward()


def gradsign(net: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn) -> int:
    """GradSign of *net* on the samples ``x[i]``, targets ``y[i]``: one forward and backward per sample (a batch of
    one, training mode), the signs of the ``Conv2d``/``Linear`` weight gradients summed per weight as they come
    (no ``[N, P]`` stack is held), then ``Σ_θ |Σ_i sign(g_{i,θ})|`` with NaN weights left out. Equal to
    :func:`sign_sum` of the stacked per-sample gradients."""
    n = x.shape[0]
    if n < 1 or y.shape[0] != n:
        raise ConfigError(f"gradsign needs at least 1 sample and one target per sample, got {n} inputs and "
                          f"{y.shape[0]} targets")
    net.train()
    layers = weight_layers(net)
    counts = [torch.zeros_like(m.weight, dtype=torch.float32) for m in layers]
    nan = [torch.zeros_like(m.weight, dtype=torch.bool) for m in layers]
    for i in range(n):
        _one_sample_backward(net, x[i:i + 1], y[i:i + 1], loss_fn)
        for m, c, bad in zip(layers, counts, nan):
            g = m.weight.grad
            if g is None:  # unused by this forward: a zero gradient, sign 0 (the official code)
                continue
            g = g.detach()
            c += torch.sign(torch.nan_to_num(g, nan=0.0)).float()  # counts of at most N: exact in float32
            bad |= torch.isnan(g)
    net.zero_grad(set_to_none=True)
    return sum(int(c.abs().masked_fill(bad, 0).to(torch.int64).sum()) for c, bad in zip(counts, nan))


def _batch_level_loss(objective: nn.Module) -> bool:
    """Whether *objective*'s loss is defined only over a batch (contrastive NT-Xent), not per sample."""
    import pretext_tasks

    return isinstance(objective, pretext_tasks.Contrastive)


class GradSign(LossRanker):
    """GradSign; every row of the (prepared) batch is one sample, run alone.

    Args:
        objective: as :class:`~unnas.rankers.base.LossRanker` (``None``: cross-entropy on the batch's labels);
            every row of its prepared inputs is one sample with its own target. A contrastive objective is a
            one-line :class:`~unnas.errors.ConfigError` (its loss is over the batch's views, not per sample).
        seed: seeds torch's random numbers while scoring.
    """

    name = "gradsign"

    def __init__(self, objective: Optional[nn.Module] = None, seed: int = 0):
        if objective is not None and _batch_level_loss(objective):
            raise ConfigError(f"gradsign needs a per-sample loss, and {getattr(objective, 'name', 'this objective')}'s "
                              "loss compares each view with the other views of the batch (one pair alone has zero "
                              "loss); use rotation, jigsaw, colorization or random_labels, or zico / grad_norm for "
                              "a contrastive loss")
        super().__init__(objective=objective, seed=seed)

    def _score(self, net: nn.Module, batch: RankBatch) -> float:
        x, y = self.inputs_targets(batch)
        return float(gradsign(net, x, y, self.loss_fn))
