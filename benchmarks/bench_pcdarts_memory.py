"""Peak memory of one search step: DARTS first order against PC-DARTS (``PCDARTS(k)``), same supernet and batch.

One search step is what ``DartsSearch`` runs per batch: the strategy's architecture gradient and an Adam step,
then a weight forward/backward and an SGD step. Peak memory per strategy:

- CUDA: ``torch.cuda.max_memory_allocated`` over the step minus the memory allocated before it, both strategies in
  this process (the peak is reset in between);
- CPU: the peak resident set (``ru_maxrss``) of a fresh child process over the step minus its resident set
  before the step (a process's high-water mark cannot be reset, so each strategy gets its own child).

Also printed, measured in this process for both: the MB of tensors autograd saves for backward in one forward
pass (exact and free of allocator noise, which dominates RSS at tiny sizes). Results print as JSON lines.

    OMP_NUM_THREADS=1 python benchmarks/bench_pcdarts_memory.py --channels 8 --layers 5 --batch 16
    python benchmarks/bench_pcdarts_memory.py --space nb201 --channels 16 --layers 5 --batch 64   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

from bench_steps import saved_mb, search_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup(strategy_name: str, args, dev):
    """A supernet configured by the strategy, its optimisers and a closure doing one search step."""
    import torch

    from unnas.modules.strategies import PCDARTS, FirstOrder
    from unnas.spaces import space_class

    torch.manual_seed(0)
    shape = {"channels": args.channels, **({"layers": args.layers} if args.layers else {})}
    net = space_class(args.space)(**shape).supernet(num_classes=10)
    strategy = FirstOrder() if strategy_name == "darts" else PCDARTS(k=args.k)
    strategy.configure_supernet(net)
    net.set_op_weights(strategy.op_weights)
    net.to(dev)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    return search_step(net, strategy, w_opt, a_opt, args.batch, args.image_size, dev)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _child(strategy_name: str, args) -> None:
    """Print ``{"peak_mb": ...}``: the step's peak resident set above the resident set before it (CPU)."""
    import torch

    step, _ = _setup(strategy_name, args, torch.device("cpu"))
    before = _rss_mb()
    step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"peak_mb": peak - before}))


def _cpu_peak(strategy_name: str, argv) -> float:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--child", strategy_name],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def _cuda_peak(strategy_name: str, args, dev) -> float:
    import torch

    step, _ = _setup(strategy_name, args, dev)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated(dev) - before) / 2 ** 20


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="darts", help="a searchable space: darts or nb201")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--layers", type=int, default=0, help="cells (DARTS) or cells per stage (nb201); 0: default")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--k", type=int, default=4, help="PC-DARTS's channel proportion 1/k")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args)

    import torch

    sys.path.insert(0, ROOT)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    peaks, saved = {}, {}
    for name in ("darts", "pcdarts"):
        peaks[name] = _cuda_peak(name, args, dev) if dev.type == "cuda" else _cpu_peak(name, argv)
        _, forward = _setup(name, args, dev)
        saved[name] = saved_mb(forward)
    shape = {k: getattr(args, k) for k in ("space", "channels", "layers", "batch", "image_size", "k")}
    for name in peaks:
        print(json.dumps({**shape, "device": device, "strategy": name, "peak_step_mb": round(peaks[name], 2),
                          "saved_forward_mb": round(saved[name], 2),
                          "measure": "max_memory_allocated" if dev.type == "cuda" else "child ru_maxrss"}))
    print(json.dumps({"pcdarts/darts peak": round(peaks["pcdarts"] / peaks["darts"], 3),
                      "pcdarts/darts saved": round(saved["pcdarts"] / saved["darts"], 3)}))


if __name__ == "__main__":
    main()
