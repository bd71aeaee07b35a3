"""Project the cost of the paper's full CIFAR-10 sample study (500 architectures x 4 objectives x 3 seeds x
100 epochs, UnNAS's recipe: NetworkCIFAR width 16, 20 cells) from counted work and measured rates.

The work is counted exactly: per architecture and objective, the multiply-adds of one training image as the
objective feeds it to the network (rotation: 4 rotated copies; jigsaw: the tiles; colorization: the L channel
and the dense head), times 3 for forward + backward, times 50,000 images x 100 epochs x 3 seeds, plus the
per-epoch test pass (10,000 images, forward only) and precise-BN pass (1,024 images, forward only).
Time = work / rate, for each rate given:

    python benchmarks/project_study.py --rate "this CPU, measured=0.95e9" --rate "V100 (DARTS eval, quark0/darts#80)=ref"

``=ref`` derives a GPU rate from a published wall time: DARTS's 600-epoch CIFAR-10 evaluation of DARTS-V2
(C=36, 20 cells, auxiliary head) took 24 h on one V100 (quark0/darts#80; reference/darts.md).
"""

from __future__ import annotations

import argparse

import torch

import pretext_tasks
from unnas.spaces.darts import NetworkCIFAR, count_macs, registered_names

EPOCHS, SEEDS, TRAIN, TEST, PRECISE_BN = 100, 3, 50_000, 10_000, 1_024
#: name -> a CIFAR-10 objective, for a study's objectives
TASKS = {name: (lambda name=name: pretext_tasks.build_objective(name, num_classes=10))
         for name in pretext_tasks.default_objectives()}


def macs_per_image(genotype: str, task, channels: int = 16, layers: int = 20) -> int:
    """Multiply-adds of one forward pass of the network over everything one image becomes under *task*."""
    x, _ = task.prepare(torch.rand(1, 3, 32, 32), torch.zeros(1, dtype=torch.long), train=True,
                        generator=torch.Generator().manual_seed(0))
    net = NetworkCIFAR(genotype, C=channels, layers=layers, input_channels=task.input_channels, head=task.head)
    return x.shape[0] * count_macs(net, tuple(x.shape[1:]))


def darts_eval_reference_rate() -> float:
    """MAC/s implied by 600 epochs of DARTS-V2 (C=36, 20 cells) on CIFAR-10 in 24 h on one V100 (the auxiliary
    tower, about 1% of the work, is left out, which makes the rate slightly conservative)."""
    macs = count_macs(NetworkCIFAR("darts_v2", C=36, layers=20), (3, 32, 32))
    work = 600 * (3 * TRAIN * macs + TEST * macs)
    return work / (24 * 3600)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", action="append", default=[], help='"name=MACs/s" or "name=ref"')
    p.add_argument("--archs", type=int, default=500, help="how many of the 500 to count (the rest scale)")
    args = p.parse_args()
    torch.set_num_threads(1)
    archs = sorted(n for n in registered_names() if n.startswith("unnas500/"))[: args.archs]
    total = 0.0
    print(f"{'objective':13s} {'mean MACs/img (fwd)':>20s} {'study work (MAC)':>18s}")
    for name, make in TASKS.items():
        task = make()
        per = [macs_per_image(a, task) for a in archs]
        mean = sum(per) / len(per)
        # train fwd+bwd (3x forward), plus forward-only test and precise-BN passes, every epoch
        work = 500 * SEEDS * EPOCHS * mean * (3 * TRAIN + TEST + PRECISE_BN)
        total += work
        print(f"{name:13s} {mean:20,.0f} {work:18.3e}")
    print(f"{'total':13s} {'':20s} {total:18.3e}")
    for spec in args.rate:
        label, value = spec.rsplit("=", 1)
        rate = darts_eval_reference_rate() if value == "ref" else float(value)
        seconds = total / rate
        print(f"{label}: {rate:.3e} MAC/s -> {seconds:.3e} s = {seconds / 3600:,.0f} h = {seconds / 86400:,.1f} days")


if __name__ == "__main__":
    main()
