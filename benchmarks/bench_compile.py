"""Does ``torch.compile`` pay for a training step? Compile time and steady-state step time against eager.

Times one SGD step of the sample-study network (NetworkCIFAR, supervised objective, random data) in four
settings, each in a fresh process so compiled code and caches do not leak between them: eager plain
(``Speedups.off()``), eager defaults, compiled plain, compiled defaults. The first step of a compiled model
includes the compilation; "steady" is the median of the following steps. Results print as JSON lines.

    python benchmarks/bench_compile.py --channels 8 --layers 5 --batch 32 --steps 5     # the CPU study recipe's size
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from bench_steps import run_child  # benchmarks/ is on the path when this script runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = ("eager-off", "eager-all", "compiled-off", "compiled-all")


def child(setting: str, args) -> dict:
    import torch

    sys.path.insert(0, ROOT)
    from unnas.spaces.darts import NetworkCIFAR, Speedups

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    mode, switches = setting.split("-")
    net = NetworkCIFAR(args.genotype, C=args.channels, layers=args.layers, num_classes=10,
                       speedups=Speedups.on() if switches == "all" else Speedups.off())
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    model = torch.compile(net) if mode == "compiled" else net
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(args.batch, 3, 32, 32, generator=g), torch.randint(0, 10, (args.batch,), generator=g)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x)[0], y).backward()
        opt.step()

    times = []
    for _ in range(1 + args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"setting": setting, "first_step_s": round(times[0], 2), "steady_s": round(statistics.median(times[1:]), 4)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--genotype", default="unnas500/00004")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args)), flush=True)
        return
    rows = {}
    for setting in args.settings:
        result = run_child(sys.argv[1:] + ["--child", setting], script=__file__)
        if not result:
            continue
        rows[setting] = result[0]
        base = rows.get("eager-off")
        if base:
            rows[setting]["steady_speedup_vs_eager_off"] = round(base["steady_s"] / rows[setting]["steady_s"], 3)
        print(json.dumps(rows[setting]), flush=True)


if __name__ == "__main__":
    main()
