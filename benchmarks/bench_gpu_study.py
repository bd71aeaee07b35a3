"""The paper's study on one accelerator: study jobs per hour at the paper recipe for K jobs per device, the search
step of each strategy, the rankers' architectures per second, fp32 against bf16 rankings, and the full study
(500 architectures x 4 objectives x 3 seeds = 6,000 runs) projected in device-days from those figures.

    python benchmarks/bench_gpu_study.py --out gpu_study.json                      # the paper's sizes
    python benchmarks/bench_gpu_study.py --small --ks 1 2 --out small.json         # seconds on a CPU (the test)

Runs on whatever device is present (``--device auto``: CUDA when available), with each space's speed switches as
chosen for that device (``SearchSpace.speedups_for``). Parts:

* ``jobs``: K processes at once on the device, each timing training steps of NetworkCIFAR(unnas500/00004) at the
  paper recipe (C=16, 20 cells, batch 128, supervised); a job is ``epochs x (train / batch)`` steps plus its held-out
  and precise-BN forward passes (a third of a step per batch each), so jobs/h = K x 3600 / job seconds. The other
  objectives' jobs are scaled by their counted work per image (benchmarks/project_study.py).
* ``search``: the median search step of every strategy (benchmarks/bench_strategies.py's setups).
* ``rankers``: seconds per architecture of each ranker (network built, moved to the device and scored).
* ``precision``: the same architectures trained briefly from the same seed in fp32 and under bf16 autocast, ranked
  by held-out loss; Spearman rho between the two rankings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_steps import _release_memory, _sync, _train_setup  # noqa: E402
from project_study import TASKS, macs_per_image  # noqa: E402

PAPER = {"channels": 16, "layers": 20, "batch": 128, "epochs": 100, "train": 50_000, "test": 10_000,
         "precise_bn": 1_024, "archs": 500, "seeds": 3, "search_channels": 16, "search_layers": 8, "search_batch": 64,
         "rank_archs": 24, "rank_channels": 8, "rank_layers": 5}
SMALL = {"channels": 4, "layers": 3, "batch": 8, "search_channels": 4, "search_layers": 3, "search_batch": 4,
         "rank_archs": 6, "rank_channels": 4, "rank_layers": 3}
GENOTYPE = "unnas500/00004"


def device_of(name: str):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _job_child(conf: dict, barrier, queue) -> None:
    """One of K concurrent jobs: time training steps with the device's speed switches; put the median seconds."""
    import torch

    from unnas.spaces import DartsSpace

    torch.set_num_threads(conf["threads"])
    dev = torch.device(conf["device"])
    args = argparse.Namespace(genotype=GENOTYPE, train_channels=conf["channels"], train_layers=conf["layers"],
                              train_batch=conf["batch"])
    sp = DartsSpace().speedups_for(dev)
    step, _, _ = _train_setup("supervised", sp, args, dev)
    times = []
    for i in range(conf["warmup"] + conf["steps"]):
        if i == conf["warmup"]:
            barrier.wait()  # the K jobs time their steps at the same time
        _sync(dev)
        t0 = time.perf_counter()
        step()
        _sync(dev)
        if i >= conf["warmup"]:
            times.append(time.perf_counter() - t0)
    queue.put(statistics.median(times))


def time_jobs(k: int, conf: dict) -> float:
    """Median training-step seconds of K jobs running at once (each in its own process on the device)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(k), ctx.Queue()
    procs = [ctx.Process(target=_job_child, args=(conf, barrier, queue)) for _ in range(k)]
    for p in procs:
        p.start()
    medians = [queue.get(timeout=conf["timeout"]) for _ in procs]
    for p in procs:
        p.join()
    return statistics.median(medians)


def job_seconds(step_s: float, conf: dict) -> float:
    """One training job at the recipe: every epoch's steps plus its held-out and precise-BN forward passes."""
    batch = conf["batch"]
    evaluation = math.ceil(conf["test"] / batch) + math.ceil(conf["precise_bn"] / batch)
    per_epoch = math.ceil(conf["train"] / batch) + evaluation / 3
    return conf["epochs"] * per_epoch * step_s


def objective_work(conf: dict) -> dict:
    """Each objective's counted work per image relative to supervised (its job's time relative to supervised's)."""
    macs = {name: macs_per_image(GENOTYPE, make(), conf["channels"], conf["layers"]) for name, make in TASKS.items()
            if name in ("supervised", "rotation", "colorization", "jigsaw")}
    return {name: m / macs["supervised"] for name, m in macs.items()}


def part_jobs(conf: dict, ks, threads=None) -> dict:
    rows, work = [], objective_work(conf)
    for k in ks:
        conf = {**conf, "threads": threads or max(1, (os.cpu_count() or 1) // k)}
        step_s = time_jobs(k, conf)
        job_s = job_seconds(step_s, conf)
        study_s = sum(conf["archs"] * conf["seeds"] * job_s * w for w in work.values()) / k
        rows.append({"k": k, "step_s": round(step_s, 5), "job_s": round(job_s, 1),
                     "jobs_per_hour": round(k * 3600 / job_s, 4), "study_device_days": round(study_s / 86400, 2)})
    return {"objective_work": {n: round(w, 3) for n, w in work.items()}, "rows": rows,
            "runs": conf["archs"] * len(work) * conf["seeds"]}


def part_search(conf: dict, dev) -> dict:
    from bench_strategies import build_all
    from unnas.spaces.speedups import set_speedups_

    args = argparse.Namespace(space="darts", channels=conf["search_channels"], layers=conf["search_layers"],
                              batch=conf["search_batch"], image_size=32, epochs=1, set=[], only=[], device=str(dev))
    setups, skipped = build_all(args, dev)
    for s in setups.values():
        set_speedups_(s.net, s.module.space.speedups_for(dev))
    times = {name: [] for name in setups}
    for r in range(conf["warmup"] + conf["steps"]):
        for name, s in setups.items():
            _sync(dev)
            t0 = time.perf_counter()
            s.step()
            _sync(dev)
            if r >= conf["warmup"]:
                times[name].append(time.perf_counter() - t0)
            _release_memory()
    return {"step_s": {n: round(statistics.median(t), 5) for n, t in times.items()}, "skipped": skipped}


def _arch_set(n: int):
    from unnas.spaces import DartsSpace

    names = sorted(a for a in DartsSpace().registry() if a.startswith("unnas500/"))
    step = max(1, len(names) // n)
    return names[::step][:n]


def part_rankers(conf: dict, dev, names) -> dict:
    import torch

    from unnas.rankers import gaussian_batch, ranker_class
    from unnas.spaces import DartsSpace

    space = DartsSpace(channels=conf["rank_channels"], layers=conf["rank_layers"])
    rankers = [ranker_class(n)() for n in names]
    batch = gaussian_batch((3, 32, 32), conf["search_batch"], 10, seed=0)
    batch = type(batch)(*(t.to(dev) for t in batch))
    out = {r.name: [] for r in rankers}
    for genotype in _arch_set(conf["rank_archs"]):
        torch.manual_seed(0)
        net = space.network(space.load(genotype), num_classes=10).to(dev)
        for ranker in rankers:
            _sync(dev)
            t0 = time.perf_counter()
            ranker.score(net, batch)
            _sync(dev)
            out[ranker.name].append(time.perf_counter() - t0)
    return {n: {"s_per_arch": round(statistics.mean(t), 4), "archs_per_s": round(1 / statistics.mean(t), 3)}
            for n, t in out.items()}


def _short_training_loss(genotype: str, conf: dict, dev, bf16: bool) -> float:
    import torch
    import torch.nn.functional as F

    from unnas.spaces import DartsSpace

    space = DartsSpace(channels=conf["rank_channels"], layers=conf["rank_layers"])
    torch.manual_seed(0)
    net = space.network(space.load(genotype), num_classes=10).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(conf["search_batch"] * 2, 3, 32, 32, generator=g).to(dev)
    y = (x[:, 0].mean(dim=(1, 2)) * 10).long().clamp(0, 9)  # a learnable label: the image's brightness decile
    xt, yt = x[conf["search_batch"]:], y[conf["search_batch"]:]
    x, y = x[:conf["search_batch"]], y[:conf["search_batch"]]
    for _ in range(conf["rank_steps"]):
        opt.zero_grad()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x)[0], y)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
        return float(F.cross_entropy(net(xt)[0].float(), yt))


def part_precision(conf: dict, dev) -> dict:
    from scipy.stats import spearmanr

    archs = _arch_set(conf["rank_archs"])
    fp32 = [_short_training_loss(a, conf, dev, False) for a in archs]
    bf16 = [_short_training_loss(a, conf, dev, True) for a in archs]
    rho = spearmanr(fp32, bf16).correlation
    return {"archs": len(archs), "rho_fp32_bf16": round(float(rho), 4), "fp32_loss": fp32, "bf16_loss": bf16}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4], help="jobs per device (default: 1 2 4)")
    p.add_argument("--parts", nargs="+", default=["jobs", "search", "rankers", "precision"],
                   choices=["jobs", "search", "rankers", "precision"])
    p.add_argument("--small", action="store_true", help="tiny networks and batches: a CPU run in seconds")
    p.add_argument("--steps", type=int, default=10, help="timed steps (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: %(default)s)")
    p.add_argument("--rank-archs", type=int, help="architectures ranked (default: 24; --small: 6)")
    p.add_argument("--rank-steps", type=int, default=20, help="training steps per architecture in the precision part")
    p.add_argument("--rankers", default="synflow,naswot,grad_norm,params", help="comma-separated rankers timed")
    p.add_argument("--threads", type=int, help="torch threads per job process (default: cores / K, at least 1)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for a job process")
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args(argv)
    import torch

    dev = device_of(args.device)
    conf = {**PAPER, **(SMALL if args.small else {}), "steps": args.steps, "warmup": args.warmup,
            "rank_steps": args.rank_steps, "device": str(dev), "timeout": args.timeout}
    if args.rank_archs:
        conf["rank_archs"] = args.rank_archs
    if any(k < 1 for k in args.ks) or args.steps < 1 or args.warmup < 0:
        p.error("--ks and --steps must be at least 1, --warmup at least 0")
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1)))
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    out = {"device": name, "torch": torch.__version__, "settings": conf}
    print(f"device: {name}; paper-recipe sizes{' (small)' if args.small else ''}", flush=True)
    if "jobs" in args.parts:
        out["jobs"] = part_jobs(conf, args.ks, args.threads)
        for row in out["jobs"]["rows"]:
            print(f"K={row['k']}: step {row['step_s']:.4f} s, {row['jobs_per_hour']:.3f} jobs/h, full study "
                  f"({out['jobs']['runs']} runs) {row['study_device_days']:,.1f} device-days", flush=True)
    if "search" in args.parts:
        out["search"] = part_search(conf, dev)
        for n, s in out["search"]["step_s"].items():
            print(f"search step {n}: {s:.4f} s", flush=True)
    if "rankers" in args.parts:
        out["rankers"] = part_rankers(conf, dev, [r.strip() for r in args.rankers.split(",") if r.strip()])
        for n, r in out["rankers"].items():
            print(f"ranker {n}: {r['archs_per_s']:.2f} architectures/s", flush=True)
    if "precision" in args.parts:
        out["precision"] = part_precision(conf, dev)
        print(f"fp32 vs bf16 ranking of {out['precision']['archs']} architectures: "
              f"rho = {out['precision']['rho_fp32_bf16']:.3f}", flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
