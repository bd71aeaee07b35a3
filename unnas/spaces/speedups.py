"""Switches that make the supernet and the evaluation networks faster without changing their math.

Every switch keeps outputs, gradients and BN statistics equal to the plain DARTS formulation within
floating-point tolerance (tests/space/test_speedups.py) and leaves the parameter names unchanged, so
checkpoints move freely between settings. ``Speedups.off()`` is the plain formulation that
benchmarks/bench_steps.py times as the baseline, ``Speedups.on()`` every switch.

A switch left ``None`` (or ``"auto"``) is chosen by device: :data:`DEVICE_DEFAULTS` holds each device type's
choice (a space may override it: ``SearchSpace.device_speedups``), taken from the measurements in
docs/benchmarks.md; devices without an entry get the plain formulation. Networks are built on the CPU, so an
unset switch takes the CPU choice when a network is built, and :func:`set_speedups_` re-chooses it for the device
the network is moved to (the training and search modules do this in ``setup``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, Literal, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from unnas.errors import ConfigError

#: A switch's value in a config: true, false, or "auto"/null (chosen by device).
Switch = Optional[Union[bool, Literal["auto"]]]


@dataclass(frozen=True)
class Speedups:
    """Performance switches (all exact up to floating-point rounding). Each is true, false, or ``None``/``"auto"``:
    chosen by the device the network runs on (:meth:`for_device`, :data:`DEVICE_DEFAULTS`).

    Args:
        channels_last: keep parameters and activations in NHWC; oneDNN's depthwise and pooling kernels are
            several times faster in that layout on CPU.
        depthwise_backward: on CPU, compute the input gradient of stride-1 depthwise convs as a forward conv
            with the flipped kernel, and the weight gradient of dilated ones (and of kernels wider than the
            image) as a sum of shifted products,
            instead of oneDNN's backward kernels, which are slow for these shapes. CUDA keeps cuDNN's kernels.
        shared_relu: (supernet) one ReLU per edge shared by the conv ops and the stride-2 skip instead of one
            each, so the rectified input is computed and stored once.
        fold_weights: (supernet) apply an op's softmax weight as the scale of its final non-affine
            BatchNorm, ``w * BN(z) = BN(z; weight=w)``, so the BN output is not kept for the weight's
            gradient.
        skip_none: (supernet) leave out the ``none`` op, whose term ``w * 0`` is exactly zero (its alpha
            still gets its gradient through the softmax).
        recompute_depthwise: (supernet) keep only the input of each depthwise-then-1x1 conv pair for backward
            and recompute the depthwise output there: one extra depthwise forward for one stored tensor less.
        dense_grads: give the ops feeding a cell's channel concatenation dense gradients in their own memory
            layout. The concatenation's backward hands out strided channel slices (and the last cell gets the
            pooling head's expanded gradient); CPU batch-norm backward takes a slow path on such gradients
            (4x slower than on a dense gradient of the input's layout, docs/benchmarks.md).
        subsample_strided: compute a depthwise conv whose stride equals its dilation (``dil_conv`` on the
            reduction cells' input edges) as the undilated conv of the input's every second pixel, the only
            pixels it reads; oneDNN's dilated strided backward is about 10x slower than this on CPU.
        crop_kernel: leave out the kernel taps of a stride-1 depthwise conv that only ever read zero padding
            (the outer ring of a dilated 5x5 on the 3x3 maps of jigsaw tiles), where oneDNN falls to a slow
            path (5 ms instead of 0.1 ms forward); those taps' gradients are exactly zero.
    """

    channels_last: Switch = None
    depthwise_backward: Switch = None
    shared_relu: Switch = None
    fold_weights: Switch = None
    skip_none: Switch = None
    recompute_depthwise: Switch = None
    dense_grads: Switch = None
    subsample_strided: Switch = None
    crop_kernel: Switch = None

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and value.strip().lower() == "auto":
                object.__setattr__(self, f.name, None)
            elif value is not None and not isinstance(value, bool):
                raise ConfigError(f"speedups.{f.name}={value!r:.40}: must be true, false or auto (chosen by device)")

    @classmethod
    def off(cls) -> "Speedups":
        """The plain formulation: every candidate op computed on its own, then a weighted sum."""
        return cls(**{f.name: False for f in fields(cls)})

    @classmethod
    def on(cls) -> "Speedups":
        """Every switch on (the CPU choice)."""
        return cls(**{f.name: True for f in fields(cls)})

    def unset(self) -> tuple:
        """The names of the switches left to the device (``None``)."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is None)

    def for_device(self, device: Union[str, torch.device, None],
                   defaults: Optional[Mapping[str, "Speedups"]] = None) -> "Speedups":
        """These switches with every unset one taken from *device*'s type in *defaults* (default
        :data:`DEVICE_DEFAULTS`; a type without an entry gets the plain formulation). Switches set here are kept."""
        kind = torch.device(device).type if device is not None else "cpu"
        table = DEVICE_DEFAULTS if defaults is None else {**DEVICE_DEFAULTS, **defaults}
        base = table.get(kind, Speedups.off())
        return Speedups(**{f.name: getattr(base, f.name) if getattr(self, f.name) is None else getattr(self, f.name)
                           for f in fields(self)})

    def as_dict(self) -> Dict[str, Optional[bool]]:
        """``{switch: value}`` in field order (what results record)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def describe(self) -> str:
        """One line: the switches that are on, or ``plain`` when none is."""
        on = [name for name, value in self.as_dict().items() if value]
        return "plain (every switch off)" if not on else ("all on" if len(on) == len(fields(self)) else
                                                          "on: " + ", ".join(on))


#: Each device type's choice for the switches a config leaves unset (docs/benchmarks.md). CPU: every switch (the
#: search step 2.1x faster at 0.57x the memory, the training steps 1.7-1.9x faster). CUDA: the plain formulation,
#: because the DARTS supernet's search step with every switch ran at 0.77x the plain speed on one H200 and no single
#: switch's removal brought it back (section (g)); the GPU measurement covered all switches together, not one at a
#: time. Spaces override this where they were measured otherwise (NAS-Bench-201: every switch on CUDA too).
DEVICE_DEFAULTS: Dict[str, Speedups] = {"cpu": Speedups.on(), "cuda": Speedups.off()}


#: The switches that act on the discrete networks (the others only change the supernet's mixed ops).
NETWORK_SWITCHES = ("channels_last", "depthwise_backward", "dense_grads", "subsample_strided", "crop_kernel")


def depthwise_weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel_size, stride, padding,
                          dilation) -> torch.Tensor:
    """Weight gradient of a depthwise conv, ``[C, 1, kh, kw]``, as one multiply-and-reduce per kernel tap."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    xp = F.pad(x, (pw, pw, ph, ph))
    ho, wo = grad_out.shape[-2:]
    taps = []
    for i in range(kh):
        for j in range(kw):
            window = xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]
            taps.append((grad_out * window).sum(dim=(0, 2, 3)))
    return torch.stack(taps, dim=1).view(x.shape[1], 1, kh, kw)


def _same_padding(kernel_size, padding, dilation) -> bool:
    return all(k % 2 == 1 and p == d * (k - 1) // 2 for k, p, d in zip(kernel_size, padding, dilation))


def _depthwise_backward(grad_out, x, weight, stride, padding, dilation, need_x: bool, need_w: bool, fast: bool,
                        sub=None):
    """``(grad_x, grad_w)`` of a depthwise conv of ``x[:, :, ::sh, ::sw]`` (*sub*; all of *x* when None); *fast*
    uses the flipped-kernel and shifted-product forms on CPU."""
    full, x = x, _subsampled(x, sub)
    C, kernel_size = x.shape[1], weight.shape[-2:]
    fast = fast and x.device.type == "cpu"
    flip_input_grad = fast and need_x and tuple(stride) == (1, 1) and _same_padding(kernel_size, padding, dilation)
    # oneDNN's weight gradient is slow for dilated kernels and for kernels wider than the image (5x5 on 3x3)
    larger = any(k > n for k, n in zip(kernel_size, x.shape[-2:]))
    shifted_weight_grad = fast and need_w and (max(dilation) > 1 or larger)
    mask = [need_x and not flip_input_grad, need_w and not shifted_weight_grad, False]
    grad_x = grad_w = None
    if any(mask):
        grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
            grad_out, x, weight, None, list(stride), list(padding), list(dilation), False, [0, 0], C, mask)
    if flip_input_grad:
        # the transpose of a stride-1 "same" correlation is the correlation with the flipped kernel
        grad_x = F.conv2d(grad_out, weight.flip(-2, -1), None, 1, padding, dilation, groups=C)
    if shifted_weight_grad:
        grad_w = depthwise_weight_grad(x, grad_out, kernel_size, stride, padding, dilation)
    return _scatter_subsampled(grad_x, full, sub), grad_w


def _subsampled(x: torch.Tensor, sub) -> torch.Tensor:
    return x if sub is None else x[:, :, ::sub[0], ::sub[1]]


def _scatter_subsampled(grad_sub: torch.Tensor, x: torch.Tensor, sub) -> torch.Tensor:
    """The gradient of ``x[:, :, ::sh, ::sw]`` placed back into zeros shaped (and laid out) like *x*."""
    if sub is None or grad_sub is None:
        return grad_sub
    grad = torch.zeros_like(x, dtype=grad_sub.dtype)
    grad[:, :, ::sub[0], ::sub[1]] = grad_sub
    return grad


class _DepthwiseConv(torch.autograd.Function):
    """Depthwise conv with the CPU backward of :func:`_depthwise_backward`; with ``sub`` it convolves
    ``x[:, :, ::sh, ::sw]`` and scatters the input gradient back in *x*'s layout."""

    @staticmethod
    def forward(ctx, x, weight, stride, padding, dilation, fast, sub):
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation, fast, sub)
        return F.conv2d(_subsampled(x, sub), weight, None, stride, padding, dilation, groups=x.shape[1])

    @staticmethod
    def backward(ctx, grad_out):
        # under autocast the forward ran in a lower precision: compute the backward in the gradient's dtype
        x, weight = (t.to(grad_out.dtype) for t in ctx.saved_tensors)
        stride, padding, dilation, fast, sub = ctx.conf
        grad_x, grad_w = _depthwise_backward(grad_out, x, weight, stride, padding, dilation,
                                             ctx.needs_input_grad[0], ctx.needs_input_grad[1], fast, sub)
        return grad_x, grad_w, None, None, None, None, None


class _DepthwisePointwise(torch.autograd.Function):
    """Depthwise conv then 1x1 conv that keeps only the block's input for backward and recomputes the
    (cheap) depthwise output there."""

    @staticmethod
    def forward(ctx, x, w_dw, w_pw, stride, padding, dilation, fast, sub):
        ctx.save_for_backward(x, w_dw, w_pw)
        ctx.conf = (stride, padding, dilation, fast, sub)
        return F.conv2d(F.conv2d(_subsampled(x, sub), w_dw, None, stride, padding, dilation, groups=x.shape[1]), w_pw)

    @staticmethod
    def backward(ctx, grad_out):
        x, w_dw, w_pw = (t.to(grad_out.dtype) for t in ctx.saved_tensors)
        stride, padding, dilation, fast, sub = ctx.conf
        need_x, need_dw, need_pw = ctx.needs_input_grad[:3]
        t = F.conv2d(_subsampled(x, sub), w_dw, None, stride, padding, dilation, groups=x.shape[1])
        grad_t, grad_pw, _ = torch.ops.aten.convolution_backward(
            grad_out, t, w_pw, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [True, need_pw, False])
        grad_x, grad_dw = _depthwise_backward(grad_t, x, w_dw, stride, padding, dilation, need_x, need_dw, fast, sub)
        return grad_x, grad_dw, grad_pw, None, None, None, None, None


def depthwise_pointwise(dw: "DepthwiseConv2d", pw: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``pw(dw(x))`` that stores only *x* for backward (see ``Speedups.recompute_depthwise``)."""
    if not torch.is_grad_enabled():
        return pw(dw(x))
    sub, weight, stride, padding, dilation = dw.conv_args(x.shape[-2:])
    return _DepthwisePointwise.apply(x, weight, pw.weight, stride, padding, dilation, dw.fast_backward, sub)


def is_pointwise(m: nn.Module) -> bool:
    """A bias-free, ungrouped, stride-1 1x1 conv."""
    return (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.stride == (1, 1) and m.groups == 1
            and m.bias is None and m.padding == (0, 0))


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise ``nn.Conv2d`` (same parameters) with optional faster paths.

    With ``fast_backward`` set and a CPU input, the input gradient of a stride-1 conv is the forward conv
    with the flipped kernel, and the weight gradient of a dilated conv (or of a kernel wider than the image)
    is :func:`depthwise_weight_grad`; both beat oneDNN's backward kernels here (docs/benchmarks.md). With
    ``subsample`` set, a conv whose stride equals its dilation ``d`` (and pads ``d * (k - 1) / 2``) only ever
    reads every ``d``-th pixel, so it is computed as the undilated stride-1 conv of ``x[:, :, ::d, ::d]``.
    With ``crop_kernel`` set, the taps of a stride-1 "same" conv that can only ever read padding (a dilated
    5x5 on a 3x3 image) are left out; their gradient is exactly zero. Otherwise this is a plain ``nn.Conv2d``.
    """

    fast_backward = False
    subsample = False
    crop_kernel = False

    def __init__(self, C: int, kernel_size: int, stride: int, padding: int, dilation: int = 1):
        super().__init__(C, C, kernel_size, stride, padding, dilation=dilation, groups=C, bias=False)

    def conv_args(self, size):
        """``(sub, weight, stride, padding, dilation)`` the conv is computed with on an input of spatial *size*:
        *sub* is the input's subsampling step (or None), *weight* the kernel, cropped to the taps that can
        reach the image when ``crop_kernel`` is set."""
        sub, stride, padding, dilation, weight = None, self.stride, self.padding, self.dilation, self.weight
        centre = [(k - 1) // 2 for k in self.kernel_size]
        same = _same_padding(self.kernel_size, padding, dilation)
        if self.subsample and same and stride == dilation and stride != (1, 1):
            sub, size = stride, tuple(-(-n // s) for n, s in zip(size, stride))
            stride, padding, dilation = (1, 1), tuple(centre), (1, 1)
        if self.crop_kernel and same and stride == (1, 1):
            # a tap at offset o = d * (i - centre) only reads padding when |o| >= the image size
            half = [min(c, (n - 1) // d) for c, n, d in zip(centre, size, dilation)]
            if half != centre:
                (ch, cw), (hh, hw) = centre, half
                weight = weight[:, :, ch - hh: ch + hh + 1, cw - hw: cw + hw + 1]
                padding = tuple(d * h for d, h in zip(dilation, half))
        return sub, weight, stride, padding, dilation

    def forward(self, x):
        sub, weight, stride, padding, dilation = self.conv_args(x.shape[-2:])
        fast = self.fast_backward and x.device.type == "cpu"
        if torch.is_grad_enabled() and (fast or sub is not None):
            return _DepthwiseConv.apply(x, weight, stride, padding, dilation, fast, sub)
        return F.conv2d(_subsampled(x, sub), weight, None, stride, padding, dilation, self.groups)


def _layout_of(t: torch.Tensor) -> torch.memory_format:
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class _DenseGradCat(torch.autograd.Function):
    """``torch.cat(dim=1)`` whose backward returns each input's gradient dense, in that input's layout."""

    @staticmethod
    def forward(ctx, *tensors):
        ctx.layouts = [_layout_of(t) for t in tensors]
        ctx.sizes = [t.shape[1] for t in tensors]
        return torch.cat(tensors, dim=1)

    @staticmethod
    def backward(ctx, grad):
        return tuple(g.contiguous(memory_format=f) for g, f in zip(grad.split(ctx.sizes, dim=1), ctx.layouts))


def cat_channels(tensors, speedups: Speedups) -> torch.Tensor:
    """``torch.cat(tensors, dim=1)``; with ``speedups.dense_grads`` its backward hands out dense gradients."""
    if speedups.dense_grads and torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _DenseGradCat.apply(*tensors)
    return torch.cat(tensors, dim=1)


#: oneDNN's CPU weight-gradient kernel for a channels-last 1x1 strided conv with fewer input channels than this
#: corrupts the heap (torch 2.14, glibc "double free or corruption"; `python -m pytest -q
#: tests/spaces/darts/test_speedups.py -k small_strided`), so such convs compute in the default layout.
SMALL_STRIDED_1X1_CHANNELS = 8


def _needs_default_layout(m: nn.Module) -> bool:
    return (isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (1, 1) and max(m.stride) > 1
            and m.in_channels < SMALL_STRIDED_1X1_CHANNELS)


def _default_layout_input(module: nn.Module, args):
    return (args[0].contiguous(),) + tuple(args[1:])


def apply_speedups(module: nn.Module, speedups: Speedups) -> None:
    """Set the layout and per-layer switches of *speedups* on every submodule of *module*."""
    for m in module.modules():
        if isinstance(m, DepthwiseConv2d):
            m.fast_backward = speedups.depthwise_backward
            m.subsample = speedups.subsample_strided
            m.crop_kernel = speedups.crop_kernel
    if speedups.channels_last:
        module.to(memory_format=torch.channels_last)
        for m in module.modules():
            if _needs_default_layout(m) and not getattr(m, "_default_layout", False):
                # clone, not contiguous(): a 1x1 kernel's channels-last strides also count as contiguous
                m.weight.data = m.weight.data.clone(memory_format=torch.contiguous_format)
                m.register_forward_pre_hook(_default_layout_input)
                m._default_layout = True


def set_speedups_(module: nn.Module, speedups: Speedups) -> nn.Module:
    """Switch *module* (built with any settings) to *speedups* in place: every submodule that holds switches gets
    them (mixed ops re-plan their paths), then the layout and per-layer switches are applied; with
    ``channels_last`` off the parameters go back to the default layout. Parameters stay the same objects."""
    speedups = speedups.for_device("cpu") if speedups.unset() else speedups
    for m in module.modules():
        if isinstance(getattr(m, "speedups", None), Speedups):
            m.speedups = speedups
            if hasattr(m, "_configure_paths"):
                m._configure_paths()
    apply_speedups(module, speedups)
    if not speedups.channels_last:
        module.to(memory_format=torch.contiguous_format)
    for m in module.modules():
        if getattr(m, "k", 1) > 1 and hasattr(m, "_configure_paths"):
            # partial-channel ops compute in NCHW (see MixedOp.set_partial_channels)
            m._ops.to(memory_format=torch.contiguous_format)
    return module


def built_speedups(speedups: Speedups) -> Speedups:
    """The switches a network is built with: unset ones take the CPU choice (networks are built on the CPU;
    :func:`set_speedups_` re-chooses them for another device)."""
    return speedups.for_device("cpu") if speedups.unset() else speedups


def to_layout(x: torch.Tensor, speedups: Speedups) -> torch.Tensor:
    """*x* in the memory layout the network computes in."""
    if speedups.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x
