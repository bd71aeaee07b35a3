"""The candidate operations of the DARTS cell space, as DARTS's ``operations.py`` defines them.

``OPS[name](C, stride, affine)`` builds an op that keeps the channel count ``C``; ``stride`` is 2
only on the edges of a reduction cell that read the two cell inputs.
"""

from __future__ import annotations

from typing import Callable, Dict

import torch
import torch.nn.functional as F
from torch import nn

from unnas.errors import ConfigError
from unnas.spaces.speedups import DepthwiseConv2d

#: The 8 candidate ops of the DARTS search space; the order defines the columns of the alphas.
PRIMITIVES = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k) -> BN; DARTS's cell preprocessing (k=1)."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU -> dilated depthwise conv -> pointwise conv -> BN."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            DepthwiseConv2d(C_in, kernel_size, stride, padding, dilation),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """DARTS's separable conv: the depthwise-pointwise-BN block applied twice (stride on the first)."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            DepthwiseConv2d(C_in, kernel_size, stride, padding),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            DepthwiseConv2d(C_in, kernel_size, 1, padding),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class Identity(nn.Module):
    def forward(self, x):
        return x


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the (strided) input, so the node it feeds is still summed."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 stride-2 convs, the second shifted by one pixel."""

    def __init__(self, C_in: int, C_out: int, affine: bool = True):
        super().__init__()
        if C_out % 2:
            raise ConfigError(f"FactorizedReduce needs an even number of output channels, got {C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x):
        return self.bn(self.features(self.relu(x)))

    def features(self, x):
        """The two convs' concatenated output before the BN, from an already rectified *x*."""
        shifted = x[:, :, 1:, 1:]
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            # DARTS's code fails on odd sizes (the branches disagree); padding the shifted branch
            # keeps even sizes bit-identical and makes odd sizes work.
            shifted = F.pad(shifted, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        return torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1)


class Conv7x1_1x7(nn.Sequential):
    """ReLU -> Conv(1x7) -> Conv(7x1) -> BN, the factorised 7x7 of AmoebaNet."""

    def __init__(self, C: int, stride: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C, C, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(C, C, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            nn.BatchNorm2d(C, affine=affine),
        )


OpFactory = Callable[[int, int, bool], nn.Module]

#: Every op name the evaluation cells accept: the 8 PRIMITIVES plus the two extra ops of the
#: published NASNet/AmoebaNet cells.
OPS: Dict[str, OpFactory] = {
    "none": lambda C, stride, affine: Zero(stride),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "skip_connect": lambda C, stride, affine: Identity() if stride == 1 else FactorizedReduce(C, C, affine=affine),
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine=affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine=affine),
    "sep_conv_7x7": lambda C, stride, affine: SepConv(C, C, 7, stride, 3, affine=affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine=affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine=affine),
    "conv_7x1_1x7": lambda C, stride, affine: Conv7x1_1x7(C, stride, affine=affine),
}
