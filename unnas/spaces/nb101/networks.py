"""The NAS-Bench-101 network as UnNAS builds it (facebookresearch/unnas ``pycls/models/nas_bench/model_builder.py``,
a port of google-research/nasbench ``model_builder.py``).

:class:`NB101Network`: a stem, ``stacks`` stacks of ``modules`` cells (a 2x2 stride-2 max-pool and twice the
channels before every stack but the first), and the objective's head on the last cell's output (no BN or ReLU
between them). The CIFAR stem is one 3x3 conv-bn-relu to ``channels``; the ImageNet stem is three stride-2 3x3
conv-bn-relus (to ``channels // 2``, ``channels``, ``channels``). Every conv has no bias and is followed by an
affine BatchNorm and a ReLU, as the official ``conv_bn_relu``.

Inside a cell (:class:`NB101Module`) the channels follow the official rule, :func:`compute_vertex_channels`: the
output channels are split among the vertices feeding the output (the first ``out % k`` of them get one more), every
other inner vertex takes the largest count among the vertices it feeds, and an input reaching a wider vertex is cut
to its first channels (:func:`truncate`, at most one channel). The cell input is projected by a 1x1 conv-bn-relu to
each vertex it feeds; a vertex sums its inputs and applies its op; the output concatenates its inner inputs in vertex
order and adds the projected cell input when the input feeds the output directly (or is that projection alone).
``forward`` returns ``(logits, None)`` like the other spaces' networks.
"""

from __future__ import annotations

from typing import Any, List, Literal, Optional, Sequence, Tuple

import torch
from torch import nn

from unnas.errors import ConfigError
from unnas.spaces.base import check_positive
from pretext_tasks.heads import HeadFactory, classifier_head
from unnas.spaces.nb101.cell import NB101Cell, parse_cell
from unnas.spaces.speedups import Speedups, built_speedups, apply_speedups, cat_channels, to_layout


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """Conv (no bias, padding ``kernel_size // 2``) -> BatchNorm -> ReLU (the official ``conv_bn_relu``)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=False))


def make_op(name: str, channels: int) -> nn.Module:
    """The module of inner op *name* at *channels* channels (ops keep the channel count and the resolution)."""
    if name == "conv3x3-bn-relu":
        return conv_bn_relu(channels, channels, 3)
    if name == "conv1x1-bn-relu":
        return conv_bn_relu(channels, channels, 1)
    return nn.MaxPool2d(3, 1, 1)


def compute_vertex_channels(in_channels: int, out_channels: int, matrix: Sequence[Sequence[int]]) -> List[int]:
    """Channels of every vertex of a pruned cell (the official ``compute_vertex_channels``).

    The input has *in_channels* and the output *out_channels*; the ``k`` inner vertices feeding the output get
    ``out_channels // k`` each plus one for the first ``out_channels % k`` of them, and every other inner vertex
    the largest count among the inner vertices it feeds (set from the last to the first).
    """
    n = len(matrix)
    channels = [0] * n
    channels[0], channels[n - 1] = in_channels, out_channels
    if n == 2:
        return channels
    feeding = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    interior, correction = divmod(out_channels, len(feeding))
    for v in feeding:
        channels[v] = interior + (1 if correction > 0 else 0)
        correction -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v][dst]:
                    channels[v] = max(channels[v], channels[dst])
    return channels


def truncate(x: torch.Tensor, channels: int) -> torch.Tensor:
    """The first *channels* channels of *x* (the official ``truncate``: vertices differ by at most one channel)."""
    return x if x.shape[1] == channels else x[:, :channels]


class NB101Module(nn.Module):
    """One NAS-Bench-101 cell ("module") from *in_channels* to *out_channels* at the same resolution."""

    def __init__(self, cell: NB101Cell, in_channels: int, out_channels: int, speedups: Speedups = Speedups()):
        super().__init__()
        self.cell = cell
        self.matrix = cell.matrix
        self.n = cell.num_vertices
        self.speedups = speedups = built_speedups(speedups)
        self.vertex_channels = compute_vertex_channels(in_channels, out_channels, cell.matrix)
        self.vertex_op = nn.ModuleDict({str(t): make_op(cell.ops[t], self.vertex_channels[t])
                                        for t in range(1, self.n - 1)})
        self.input_op = nn.ModuleDict({str(t): conv_bn_relu(in_channels, self.vertex_channels[t], 1)
                                       for t in range(1, self.n) if cell.matrix[0][t]})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m = self.n, self.matrix
        tensors = [x]
        concat = []
        for t in range(1, n - 1):
            add_in = [truncate(tensors[s], self.vertex_channels[t]) for s in range(1, t) if m[s][t]]
            if m[0][t]:
                add_in.append(self.input_op[str(t)](x))
            total = add_in[0]
            for y in add_in[1:]:
                total = total + y
            tensors.append(self.vertex_op[str(t)](total))
            if m[t][n - 1]:
                concat.append(tensors[t])
        if not concat:
            return self.input_op[str(n - 1)](x)
        out = concat[0] if len(concat) == 1 else cat_channels(concat, self.speedups)
        if m[0][n - 1]:
            out = out + self.input_op[str(n - 1)](x)
        return out

    def extra_repr(self) -> str:
        return f"channels={self.vertex_channels}"


def check_network(cell: NB101Cell, stem: str, channels: int, stacks: int, modules: int, num_classes: int,
                  input_channels: int, head) -> None:
    """One-line :class:`~unnas.errors.ConfigError` for sizes the network cannot have."""
    check_positive("NB101Network", channels=channels, stacks=stacks, modules=modules, input_channels=input_channels)
    if head is None:
        check_positive("NB101Network", num_classes=num_classes)
    if stem not in ("cifar", "imagenet"):
        raise ConfigError(f"unknown NAS-Bench-101 stem {stem!r}; use 'cifar' or 'imagenet'")
    if stem == "imagenet" and channels < 2:
        raise ConfigError(f"the ImageNet stem's first conv has channels // 2 outputs: channels must be at least 2, "
                          f"got {channels}")
    feeding = sum(cell.matrix[v][-1] for v in range(1, cell.num_vertices - 1))
    if feeding > channels:
        raise ConfigError(f"channels={channels} cannot be split among the {feeding} vertices feeding the cell output; "
                          f"use channels >= {feeding}")


class NB101Network(nn.Module):
    """The NAS-Bench-101 network of one cell.

    Args:
        cell: an :class:`NB101Cell` or any text :func:`~unnas.spaces.nb101.cell.parse_cell` reads.
        stem: ``"cifar"`` (one 3x3 conv-bn-relu) or ``"imagenet"`` (three stride-2 3x3 conv-bn-relus).
        channels: the stem's output channels and the first stack's (UnNAS and NAS-Bench-101: 128).
        stacks: stacks of cells (3); each after the first halves the resolution and doubles the channels.
        modules: cells per stack (UnNAS: 3 on CIFAR-10, 4 on ImageNet).
        num_classes: outputs of the default head (ignored when *head* is given).
        input_channels: channels of the network input (1 for colorization).
        head: the objective's head factory ``head(in_channels) -> Head``; default GAP + linear.
        speedups: performance switches; ``channels_last`` and ``dense_grads`` act on this network.
    """

    def __init__(self, cell: Any, stem: Literal["cifar", "imagenet"] = "cifar", channels: int = 128, stacks: int = 3,
                 modules: int = 3, num_classes: int = 10, input_channels: int = 3, head: Optional[HeadFactory] = None,
                 speedups: Speedups = Speedups()):
        super().__init__()
        self.cell = parse_cell(cell)
        check_network(self.cell, stem, channels, stacks, modules, num_classes, input_channels, head)
        self.stem_kind, self.channels, self.stacks, self.modules_per_stack = stem, channels, stacks, modules
        self.speedups = speedups = built_speedups(speedups)
        if stem == "cifar":
            self.stem = conv_bn_relu(input_channels, channels, 3)
        else:
            self.stem = nn.Sequential(conv_bn_relu(input_channels, channels // 2, 3, 2),
                                      conv_bn_relu(channels // 2, channels, 3, 2),
                                      conv_bn_relu(channels, channels, 3, 2))
        self.layers = nn.ModuleList()
        in_channels = out_channels = channels
        for stack in range(stacks):
            if stack > 0:
                self.layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                out_channels *= 2
            for _ in range(modules):
                self.layers.append(NB101Module(self.cell, in_channels, out_channels, speedups))
                in_channels = out_channels
        self.out_channels = out_channels
        self.head = (head or classifier_head(num_classes))(out_channels)
        apply_speedups(self, speedups)

    def forward(self, x) -> Tuple[torch.Tensor, None]:
        x = to_layout(self.head.fold(x), self.speedups)
        input_size = tuple(x.shape[-2:])
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x, input_size), None

    def extra_repr(self) -> str:
        return (f"stem={self.stem_kind}, channels={self.channels}, stacks={self.stacks}, "
                f"modules={self.modules_per_stack}, cell={self.cell}")


__all__ = ["NB101Network", "NB101Module", "compute_vertex_channels", "conv_bn_relu", "make_op", "truncate",
           "check_network"]
