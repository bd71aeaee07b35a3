"""Parameter counts and multiply-adds, counted the way DARTS-style papers report them.

Multiply-adds count ``nn.Conv2d`` (output elements x in_channels/groups x kernel area) and
``nn.Linear`` (in x out) for ONE sample at the network's input size; BatchNorm, pooling, activations
and element-wise ops are not counted. The network runs in eval mode, so the auxiliary head is
excluded, as DARTS's counter does.
"""

from __future__ import annotations

import os
import re
from typing import Callable, Optional, Sequence, Tuple

import torch
from torch import nn

from unnas.errors import ConfigError


class MemoryLimitError(ConfigError):
    """A network (or batch) that does not fit this machine's memory; one line naming the sizes to reduce."""


def count_params(model: nn.Module, exclude_auxiliary: bool = True) -> int:
    """Number of weights; by default without the auxiliary head (DARTS's ``count_parameters_in_MB``).

    A supernet's architecture parameters (its ``arch_parameters()``) are not weights and are never
    counted, as in DARTS, where the alphas are not module parameters at all.
    """
    arch = {id(p) for p in model.arch_parameters()} if hasattr(model, "arch_parameters") else set()
    return sum(
        p.numel() for name, p in model.named_parameters()
        if id(p) not in arch and not (exclude_auxiliary and "auxiliary" in name)
    )


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Conv2d + Linear multiply-adds of one forward pass on a single sample of shape *input_shape*.

    *input_shape* excludes the batch dimension (``(3, 32, 32)``; ``(4, 3, 12, 12)`` for 4 jigsaw tiles).
    """
    total = 0

    def conv_hook(module: nn.Conv2d, inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, inputs, output):
        nonlocal total
        total += output.numel() // module.out_features * module.in_features * module.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def machine_memory() -> Optional[int]:
    """Bytes of physical memory of this machine (None where the OS does not tell)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def estimate_size(build: Callable[[], nn.Module], input_shape: Sequence[int], batch: int = 1
                  ) -> Optional[Tuple[int, int]]:
    """``(parameters, activation values)`` of the network ``build()`` makes and of one forward pass on a batch of
    *batch* samples of *input_shape*, measured on torch's ``meta`` device (nothing is allocated). The activations
    are the outputs of every leaf module. None when the network cannot be built there; activations 0 when its
    forward pass cannot run there."""
    try:
        with torch.device("meta"):
            net = build()
    except Exception:  # noqa: BLE001 - a network the meta device cannot build is measured by building it
        return None
    params = sum(p.numel() for p in net.parameters())
    acts = 0

    def hook(module, inputs, output):
        nonlocal acts
        if isinstance(output, torch.Tensor):
            acts += output.numel()

    handles = [m.register_forward_hook(hook) for m in net.modules() if not any(True for _ in m.children())]
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(batch, *input_shape, device="meta"))
    except Exception:  # noqa: BLE001
        acts = 0
    finally:
        for h in handles:
            h.remove()
    return params, acts


def check_fits(build: Callable[[], nn.Module], input_shape: Sequence[int], batch: int = 1, *, gradients: bool = False,
               fix: str = "use smaller --channels / --layers") -> None:
    """One-line :class:`MemoryLimitError` before anything is allocated when the network ``build()`` makes, with one
    forward pass on *batch* samples of *input_shape* (and, with *gradients*, their gradients), would need more than
    this machine's physical memory (float32: 4 bytes a value)."""
    memory = machine_memory()
    size = estimate_size(build, input_shape, batch)
    if memory is None or size is None:
        return
    params, acts = size
    need = 4 * (params + acts) * (2 if gradients else 1)
    if need > memory:
        raise MemoryLimitError(f"the network needs about {need / 2**30:,.1f} GiB ({params:,} parameters, {acts:,} "
                               f"activation values for {batch} sample(s)), more than this machine's "
                               f"{memory / 2**30:,.1f} GiB of memory; {fix}")


_OUT_OF_MEMORY = re.compile(r"out of memory|not enough memory|can't allocate memory|cannot allocate memory", re.I)


def out_of_memory(e: BaseException) -> bool:
    """Whether *e* is torch (or Python) running out of memory: ``torch.OutOfMemoryError``, ``MemoryError`` or the
    CPU allocator's RuntimeError."""
    oom = getattr(torch, "OutOfMemoryError", None)
    return ((oom is not None and isinstance(e, oom)) or isinstance(e, MemoryError)
            or (isinstance(e, RuntimeError) and bool(_OUT_OF_MEMORY.search(str(e)))))


def memory_error(e: BaseException, fix: str) -> MemoryLimitError:
    """The one-line error for an out-of-memory *e* (:func:`out_of_memory`)."""
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
    return MemoryLimitError(f"ran out of memory ({first}); {fix}")
