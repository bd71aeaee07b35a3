"""What a result reproduces on, recorded with every result beside the package versions and the thread count: the
CPU model and the instruction set torch's kernels use, the cores, and the GPUs.

A result reproduces bit for bit on the same CPU model and instruction set, thread count, versions and device;
across machines, the distribution over seeds does, not the single run (docs/study.md).
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from typing import Any, Dict, List

# the instruction-set extensions that change which kernels torch and numpy run
_ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile",
              "asimd", "sve")


@lru_cache(maxsize=1)
def _cpuinfo() -> Dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none), read once per process: every
    result of a worker records them."""
    fields: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_model() -> str:
    """The CPU's model name (``AMD EPYC ...``), or the platform's processor string where /proc/cpuinfo has none."""
    info = _cpuinfo()
    return info.get("model name") or info.get("Model") or platform.processor() or platform.machine() or "unknown"


def instruction_sets() -> List[str]:
    """Which of the extensions in :data:`_ISA_FLAGS` the CPU reports."""
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    return [flag for flag in _ISA_FLAGS if flag in flags]


def gpus() -> List[str]:
    """The names of the visible CUDA devices (none without torch's CUDA or a device)."""
    try:
        import torch

        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver must not stop a result from being recorded
        pass
    return []


def machine() -> Dict[str, Any]:
    """``cpu``, ``isa`` (the CPU's extensions), ``torch_cpu_capability`` (the kernels torch chose: ``AVX512``,
    ``AVX2``, ``DEFAULT``), ``cores`` and ``gpus`` of this machine."""
    import torch

    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # older torch
        capability = None
    return {"cpu": cpu_model(), "isa": instruction_sets(), "torch_cpu_capability": capability,
            "cores": os.cpu_count(), "gpus": gpus()}
