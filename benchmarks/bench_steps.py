"""Time and peak memory of the hot paths: a DARTS search step (first and second order), a training step of
the sample-study network under each objective, and the machine's dense-convolution rate.

Each measurement runs in a fresh subprocess (so peak RSS belongs to that configuration alone) and reports
the median of ``--steps`` steps after ``--warmup`` warm-up steps. Results print as JSON lines and as a
table; put them in docs/benchmarks.md with the command, the machine and the date.

    python benchmarks/bench_steps.py --which search1 search2 train conv            # the full set (slow on CPU)
    python benchmarks/bench_steps.py --which search1 --channels 4 --layers 5 --batch 8 --steps 3   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _time_steps(step, steps: int, warmup: int, device) -> list:
    """Wall times of *steps* calls of ``step()`` after *warmup* untimed ones (synchronising CUDA)."""
    times = []
    for i in range(warmup + steps):
        _sync(device)
        t0 = time.perf_counter()
        step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def _summary(times: list) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "peak_rss_mb": _peak_rss_mb()}


def bench_search(order: int, channels: int, layers: int, batch: int, steps: int, warmup: int, device: str) -> dict:
    """One DARTS search step (architecture update then weight update) on random 32x32 images, 10 classes."""
    import torch

    from unnas.modules.strategies import FirstOrder, SecondOrder
    from unnas.space import Supernet

    dev = torch.device(device)
    net = Supernet(C=channels, num_classes=10, layers=layers).to(dev)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    strategy = FirstOrder() if order == 1 else SecondOrder()
    loss_fn = torch.nn.functional.cross_entropy
    xw, yw = torch.randn(batch, 3, 32, 32, device=dev), torch.randint(0, 10, (batch,), device=dev)
    xa, ya = torch.randn(batch, 3, 32, 32, device=dev), torch.randint(0, 10, (batch,), device=dev)
    def step():
        a_opt.zero_grad()
        strategy.arch_gradients(net, loss_fn, (xw, yw), (xa, ya), w_opt)
        a_opt.step()
        w_opt.zero_grad()
        loss_fn(net(xw), yw).backward()
        torch.nn.utils.clip_grad_norm_(list(net.weight_parameters()), 5.0)
        w_opt.step()

    times = _time_steps(step, steps, warmup, dev)
    return {"bench": f"search_order{order}", "channels": channels, "layers": layers, "batch": batch, **_summary(times)}


def bench_train(task_name: str, channels: int, layers: int, batch: int, steps: int, warmup: int, device: str) -> dict:
    """One training step (forward, backward, SGD) of NetworkCIFAR(genotype unnas500/00004) under an objective."""
    import torch

    import pretext_tasks
    from unnas.space import NetworkCIFAR

    dev = torch.device(device)
    task = {"supervised": lambda: pretext_tasks.Supervised(num_classes=10), "rotation": pretext_tasks.Rotation,
            "colorization": pretext_tasks.Colorization, "jigsaw": pretext_tasks.Jigsaw}[task_name]().to(dev)
    net = NetworkCIFAR("unnas500/00004", C=channels, layers=layers, input_channels=task.input_channels,
                       head=task.head).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    images = torch.rand(batch, 3, 32, 32, device=dev)
    labels = torch.randint(0, 10, (batch,), device=dev)
    def step():
        x, y = task.prepare(images, labels, train=True)
        opt.zero_grad()
        task.loss(net(x)[0], y).backward()
        opt.step()

    times = _time_steps(step, steps, warmup, dev)
    return {"bench": f"train_{task_name}", "channels": channels, "layers": layers, "batch": batch, **_summary(times)}


def bench_conv(steps: int, warmup: int, device: str) -> dict:
    """The machine's dense 3x3 convolution rate (forward + backward), in multiply-adds per second."""
    import torch

    dev = torch.device(device)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).to(dev)
    x = torch.randn(64, 64, 32, 32, device=dev, requires_grad=True)
    macs = 3 * 64 * 32 * 32 * 64 * 64 * 9  # forward, grad input, grad weight
    times = _time_steps(lambda: conv(x).sum().backward(), steps, warmup, dev)
    return {"bench": "dense_conv3x3", "median_s": statistics.median(times), "macs_per_s": macs / statistics.median(times)}


def _child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    kind = args.child
    if kind.startswith("search"):
        row = bench_search(int(kind[-1]), args.channels, args.layers, args.batch, args.steps, args.warmup, args.device)
    elif kind.startswith("train_"):
        row = bench_train(kind[len("train_"):], args.train_channels, args.train_layers, args.batch, args.steps,
                          args.warmup, args.device)
    else:
        row = bench_conv(args.steps, args.warmup, args.device)
    row.update({"threads": args.threads, "device": args.device, "torch": torch.__version__})
    print("RESULT " + json.dumps(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--which", nargs="+", default=["search1", "search2", "train", "conv"],
                   choices=["search1", "search2", "train", "conv"])
    p.add_argument("--channels", type=int, default=16, help="supernet channels (DARTS: 16)")
    p.add_argument("--layers", type=int, default=8, help="supernet cells (DARTS: 8)")
    p.add_argument("--train-channels", type=int, default=16, help="sample-study network channels (UnNAS: 16)")
    p.add_argument("--train-layers", type=int, default=20, help="sample-study network cells (UnNAS: 20)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--device", default="cuda" if _has_cuda() else "cpu")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return _child(args)
    jobs = []
    for w in args.which:
        jobs += [f"train_{t}" for t in ("supervised", "rotation", "colorization", "jigsaw")] if w == "train" else [w]
    for job in jobs:
        cmd = [sys.executable, __file__, "--child", job] + [a for a in sys.argv[1:] if a != "--which" and a not in args.which]
        out = subprocess.run(cmd, capture_output=True, text=True)
        rows = [json.loads(line[7:]) for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if not rows:
            print(f"{job}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        print(json.dumps(rows[0]), flush=True)


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


if __name__ == "__main__":
    main()
