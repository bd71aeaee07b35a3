"""What a result reproduces on is recorded with it: the CPU model, its instruction set, the kernels torch chose,
the cores and the GPUs."""

import json

import torch

from unnas import provenance
from unnas.provenance import machine


def test_the_machine_is_read_from_cpuinfo(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU 9000\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f\n\n"
                       "processor\t: 1\nmodel name\t: Another\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path,
                                                                         *a, **k))
    provenance._cpuinfo.cache_clear()  # read once per process: make this test's read the one
    try:
        assert provenance.cpu_model() == "Some CPU 9000"
        assert provenance.instruction_sets() == ["sse4_2", "avx", "avx2", "fma", "avx512f"]
    finally:
        provenance._cpuinfo.cache_clear()


def test_the_record_is_json_and_names_this_machine():
    record = json.loads(json.dumps(machine()))
    assert set(record) == {"cpu", "isa", "torch_cpu_capability", "cores", "gpus"}
    assert record["cpu"] and record["cores"] >= 1
    assert record["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["gpus"] == ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                              if torch.cuda.is_available() else [])
