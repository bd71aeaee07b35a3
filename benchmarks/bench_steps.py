"""Benchmarks of the hot paths against the plain DARTS formulation (``Speedups.off()``).

    search1  one first-order DARTS search step (architecture update, then weight update)
    search2  one second-order search step
    train    one training step of the sample-study network under each objective
    study    study throughput (jobs per hour) with the CPU recipe, per speedup setting and worker count
    conv     the machine's dense 3x3 convolution rate, to put the achieved rates of search1/train against

Every configuration of a step benchmark ("variant": ``off``, ``all`` = the defaults, and with ``--ablation``
``all`` minus one switch) is built in one subprocess from the same seed and timed round-robin, so the ratios
come from one process under the same conditions. Peak memory comes from a fresh subprocess per variant
(peak RSS on CPU, ``max_memory_allocated`` on CUDA); "saved MB" is the size of the tensors autograd keeps for
backward in one forward pass, measured in the timing process. Results print as JSON lines; copy them into
docs/benchmarks.md with the command, the machine and the date.

    python benchmarks/bench_steps.py                                  # search1 search2 train conv at paper size
    python benchmarks/bench_steps.py --which search1 --ablation       # which switch buys what
    python benchmarks/bench_steps.py --which search1 --channels 4 --layers 5 --batch 8 --steps 2   # a quick look
    python benchmarks/bench_steps.py --which study --study-archs 1 --data-root ../shared/data/cifar10
    python benchmarks/bench_steps.py --which search1 search2 --space nb201   # NAS-Bench-201's supernet (C=16, N=5)
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: images per step of UnNAS's CIFAR-10 sample-study recipe (rotation feeds 4 copies of each, jigsaw 4 tiles); an
#: objective of none of these takes the supervised batch unless --train-batch says otherwise
PAPER_BATCH = {"supervised": 128, "rotation": 32, "colorization": 128, "jigsaw": 32}


def variants(ablation: bool, supernet: bool, also=()) -> dict:
    """Name -> Speedups: the plain formulation, the defaults, (ablation) the defaults minus each switch, and each
    name of *also*, ``all-<switch>-<switch>...``: the defaults minus the named switches."""
    from unnas.spaces.speedups import NETWORK_SWITCHES, Speedups

    out = {"off": Speedups.off(), "all": Speedups.on()}
    if ablation:
        switches = [f.name for f in dataclasses.fields(Speedups)]
        if not supernet:
            switches = list(NETWORK_SWITCHES)
        for name in switches:
            out[f"all-{name}"] = dataclasses.replace(Speedups.on(), **{name: False})
    for name in also:
        parts = name.split("-")
        if parts[0] != "all":
            raise SystemExit(f"--also {name!r}: write it as all-<switch>-<switch>..., e.g. all-depthwise_backward")
        try:
            out[name] = dataclasses.replace(Speedups.on(), **{p: False for p in parts[1:]})
        except TypeError:
            raise SystemExit(f"--also {name!r}: unknown switch; the switches are "
                             f"{', '.join(f.name for f in dataclasses.fields(Speedups))}") from None
    return out


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _release_memory() -> None:
    """Return freed heap memory to the OS between steps (glibc keeps it otherwise, and with several variants
    in one process the retained heaps add up to more than the machine has)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def saved_mb(fn) -> float:
    """MB of distinct storages autograd saves for backward while *fn* runs its forward."""
    import torch

    seen = {}

    def pack(t):
        # Hold the storage (so its address is not reused during the pass) but not the tensor: returning the
        # tensor would tie outputs to their own graph nodes in reference cycles that Python's gc cannot see.
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage
        return None  # this pass never runs backward

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda packed: packed):
        fn()
    return sum(s.nbytes() for s in seen.values()) / 2 ** 20


def search_step(net, strategy, w_opt, a_opt, batch: int, image_size: int, dev):
    """Closures ``(step, forward)`` on two seeded random batches: one search step as WeightSharingSearch runs it (the
    strategy's architecture gradient and Adam step, then a weight forward/backward, clip at 5 and SGD step), and
    the weight forward alone."""
    import torch

    loss_fn = torch.nn.functional.cross_entropy
    g = torch.Generator().manual_seed(1)
    xw, yw = torch.randn(batch, 3, image_size, image_size, generator=g), torch.randint(0, 10, (batch,), generator=g)
    xa, ya = torch.randn(batch, 3, image_size, image_size, generator=g), torch.randint(0, 10, (batch,), generator=g)
    xw, yw, xa, ya = (t.to(dev) for t in (xw, yw, xa, ya))

    def step():
        a_opt.zero_grad()
        strategy.arch_gradients(net, loss_fn, (xw, yw), (xa, ya), w_opt)
        a_opt.step()
        w_opt.zero_grad()
        loss_fn(net(xw), yw).backward()
        torch.nn.utils.clip_grad_norm_(list(net.weight_parameters()), 5.0)
        w_opt.step()

    def forward():
        loss_fn(net(xw), yw)

    return step, forward


def _search_setup(order: int, sp, args, dev):
    """A supernet under *sp* and a closure doing one search step, as WeightSharingSearch does it."""
    import torch

    from unnas.modules.strategies import FirstOrder, SecondOrder
    from unnas.spaces import space_class

    torch.manual_seed(0)
    shape = {"channels": args.channels, **({"layers": args.layers} if args.layers else {})}
    net = space_class(args.space)(**shape, speedups=sp).supernet(num_classes=10).to(dev)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    strategy = FirstOrder() if order == 1 else SecondOrder()
    step, forward = search_step(net, strategy, w_opt, a_opt, args.batch, 32, dev)

    from unnas.spaces.darts import count_macs

    # one search step = 2 forward+backward passes (first order) or 5 (second order: virtual step, val, 2 FD)
    passes = 2 if order == 1 else 5
    macs = 3 * passes * args.batch * count_macs(net, (3, 32, 32))
    return step, forward, macs


def _train_setup(task_name: str, sp, args, dev):
    """NetworkCIFAR(unnas500/00004) under an objective and a closure doing one SGD step."""
    import torch

    import pretext_tasks
    from unnas.spaces.darts import NetworkCIFAR, count_macs

    torch.manual_seed(0)
    task = pretext_tasks.build_objective(task_name, num_classes=10).to(dev)
    net = NetworkCIFAR(args.genotype, C=args.train_channels, layers=args.train_layers,
                       input_channels=task.input_channels, head=task.head, speedups=sp).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    g = torch.Generator().manual_seed(1)
    batch = args.train_batch or PAPER_BATCH.get(task_name, PAPER_BATCH["supervised"])
    images = torch.rand(batch, 3, 32, 32, generator=g).to(dev)
    labels = torch.randint(0, 10, (batch,), generator=g).to(dev)
    x, y = task.prepare(images, labels, train=True, generator=torch.Generator(device=dev).manual_seed(2))

    def step():
        xb, yb = task.prepare(images, labels, train=True)
        opt.zero_grad()
        task.loss(net(xb)[0], yb).backward()
        opt.step()

    def forward():
        task.loss(net(x)[0], y)

    macs = 3 * x.shape[0] * count_macs(net, tuple(x.shape[1:]))
    return step, forward, macs


def _setup(kind: str, sp, args, dev):
    if kind.startswith("search"):
        return _search_setup(int(kind[-1]), sp, args, dev)
    return _train_setup(kind[len("train_"):], sp, args, dev)


def child_time(kind: str, args) -> list:
    """Round-robin timing of every variant of *kind* in this process; one row per variant."""
    import torch

    dev = torch.device(args.device)
    setups = {name: _setup(kind, sp, args, dev) for name, sp in variants(args.ablation, kind.startswith("search"), args.also).items()}
    saved = {}
    for name, (_, fwd, _) in setups.items():
        saved[name] = saved_mb(fwd)
        _release_memory()
    times = {name: [] for name in setups}
    for r in range(args.warmup + args.steps):
        for name, (step, _, _) in setups.items():
            _sync(dev)
            t0 = time.perf_counter()
            step()
            _sync(dev)
            if r >= args.warmup:
                times[name].append(time.perf_counter() - t0)
            _release_memory()
    base, best = statistics.median(times["off"]), statistics.median(times["all"])
    rows = []
    for name, (_, _, macs) in setups.items():
        med = statistics.median(times[name])
        rows.append({"bench": kind, **({"space": args.space} if kind.startswith("search") else {}),
                     "variant": name, "median_s": round(med, 4), "min_s": round(min(times[name]), 4),
                     "max_s": round(max(times[name]), 4), "speedup_vs_off": round(base / med, 3),
                     "time_vs_all": round(med / best, 3),
                     "saved_mb": round(saved[name], 1), "saved_ratio_vs_off": round(saved[name] / saved["off"], 3),
                     "gmacs_per_s": round(macs / med / 1e9, 2)})
    return rows


def child_memory(kind: str, variant: str, args) -> list:
    """Peak memory of *warmup* + 1 steps of one variant, alone in this process."""
    import torch

    dev = torch.device(args.device)
    sp = variants(True, kind.startswith("search"), args.also)[variant]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    step, _, _ = _setup(kind, sp, args, dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup + 1):
        step()
    _sync(dev)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {"bench": kind, "variant": variant, "peak_rss_mb": round(peak, 1), "step_rss_mb": round(peak - rss0, 1)}
    if dev.type == "cuda":
        row["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    return [row]


def child_conv(args) -> list:
    """The dense 3x3 convolution rate (forward + both backward convs), in multiply-adds per second."""
    import torch

    dev = torch.device(args.device)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False).to(dev)
    x = torch.randn(64, 64, 32, 32, device=dev, requires_grad=True)
    macs = 3 * 64 * 32 * 32 * 64 * 64 * 9
    times = []
    for i in range(args.warmup + args.steps):
        _sync(dev)
        t0 = time.perf_counter()
        conv(x).sum().backward()
        _sync(dev)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return [{"bench": "dense_conv3x3", "median_s": round(med, 4), "gmacs_per_s": round(macs / med / 1e9, 2)}]


def run_child(argv: list, script: str = __file__) -> list:
    """Run *script* with *argv* in a fresh Python process; the rows it printed as ``RESULT {json}`` lines."""
    out = subprocess.run([sys.executable, os.path.abspath(script)] + argv, capture_output=True, text=True)
    rows = [json.loads(line[7:]) for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if not rows:
        print(f"{' '.join(argv)}: failed\n{out.stderr[-3000:]}", file=sys.stderr)
    return rows


def bench_study(args) -> list:
    """Jobs per hour of ``unnas study work`` with the CPU recipe, per speedup setting and worker count."""
    import yaml

    rows = []
    base_cfg = os.path.join(ROOT, "configs", "study", "cifar10_cpu.yaml")
    with open(base_cfg) as f:
        tasks = yaml.safe_load(f)["tasks"]
    for setting in args.study_speedups:
        for workers in args.study_workers:
            with tempfile.TemporaryDirectory() as tmp:
                cfg_tasks = {}
                for name, rel in tasks.items():
                    with open(os.path.join(os.path.dirname(base_cfg), rel)) as f:
                        cfg = yaml.safe_load(f)
                    if setting == "off":
                        cfg["model"]["init_args"]["space"]["init_args"]["speedups"] = dataclasses.asdict(_off())
                    path = os.path.join(tmp, f"{name}.yaml")
                    with open(path, "w") as f:
                        yaml.safe_dump(cfg, f)
                    cfg_tasks[name] = path
                study_cfg = os.path.join(tmp, "study.yaml")
                with open(study_cfg, "w") as f:
                    yaml.safe_dump({"tasks": cfg_tasks}, f)
                sdir = os.path.join(tmp, "study")
                unnas = [sys.executable, "-m", "unnas", "study"]
                subprocess.run(unnas + ["init", sdir, "--archs", f"unnas500:{args.study_archs}", "--config", study_cfg,
                                        "--data-root", args.data_root], check=True, capture_output=True)
                t0 = time.perf_counter()
                subprocess.run(unnas + ["work", sdir, "--workers", str(workers), "--threads", str(max(1, args.threads // workers))],
                               check=True, capture_output=True)
                wall = time.perf_counter() - t0
                jobs = args.study_archs * len(tasks)
                rows.append({"bench": "study", "speedups": setting, "workers": workers, "jobs": jobs,
                             "wall_s": round(wall, 1), "jobs_per_hour": round(jobs / wall * 3600, 1)})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def _off():
    from unnas.spaces.speedups import Speedups

    return Speedups.off()


def searchable_spaces() -> list:
    """The registered spaces that build a weight-sharing supernet (what search1/search2 time)."""
    from unnas.spaces.base import space_class, space_names

    return [name for name in space_names() if space_class(name).searchable]


def main() -> None:
    import pretext_tasks
    from unnas.spaces.base import DEFAULT_SPACE

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--which", nargs="+", default=["search1", "search2", "train", "conv"],
                   choices=["search1", "search2", "train", "study", "conv"])
    p.add_argument("--objectives", nargs="+", default=pretext_tasks.default_objectives(),
                   choices=pretext_tasks.objective_names(), help="the objectives of train (default: a study's)")
    p.add_argument("--ablation", action="store_true", help="also time the defaults minus each switch")
    p.add_argument("--also", nargs="+", default=[], metavar="all-SWITCH-SWITCH",
                   help="also time the defaults minus the named switches, e.g. all-depthwise_backward-recompute_depthwise")
    p.add_argument("--no-memory", action="store_true", help="skip the per-variant peak-memory subprocesses")
    p.add_argument("--no-time", action="store_true", help="only the peak-memory subprocesses")
    p.add_argument("--space", choices=searchable_spaces(), default=DEFAULT_SPACE,
                   help=f"the supernet of search1/search2 (default {DEFAULT_SPACE})")
    p.add_argument("--channels", type=int, default=16, help="supernet channels (DARTS and NAS-Bench-201: 16)")
    p.add_argument("--layers", type=int, default=None,
                   help="supernet depth (default: DARTS 8 cells; NAS-Bench-201 N=5 cells per stage)")
    p.add_argument("--train-channels", type=int, default=16, help="sample-study network channels (UnNAS: 16)")
    p.add_argument("--train-layers", type=int, default=20, help="sample-study network cells (UnNAS: 20)")
    p.add_argument("--genotype", default="unnas500/00004", help="architecture of the train benchmark")
    p.add_argument("--train-batch", type=int, help="images per training step (default: UnNAS's per objective)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="timed rounds (each round steps every variant once)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--device", default="cuda" if _has_cuda() else "cpu")
    p.add_argument("--study-archs", type=int, default=1, help="architectures of the throughput study (x 4 objectives)")
    p.add_argument("--study-workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--study-speedups", nargs="+", default=["all"], choices=["off", "all"])
    p.add_argument("--data-root", default=os.path.join(ROOT, "..", "shared", "data", "cifar10"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--memory-variant", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        if args.child == "conv":
            rows = child_conv(args)
        elif args.memory_variant:
            rows = child_memory(args.child, args.memory_variant, args)
        else:
            rows = child_time(args.child, args)
        for row in rows:
            row.update({"threads": args.threads, "device": args.device, "torch": torch.__version__})
            print("RESULT " + json.dumps(row), flush=True)
        return

    common = sys.argv[1:]
    kinds = []
    for w in args.which:
        kinds += [f"train_{t}" for t in args.objectives] if w == "train" else [w]
    for kind in kinds:
        if kind == "study":
            bench_study(args)
            continue
        if not args.no_time or kind == "conv":
            for row in run_child(common + ["--child", kind]):
                print(json.dumps(row), flush=True)
        if kind != "conv" and not args.no_memory:
            mem = {}
            for variant in ("off", "all"):
                for row in run_child(common + ["--child", kind, "--memory-variant", variant]):
                    print(json.dumps(row), flush=True)
                    mem[variant] = row
            if len(mem) == 2:
                key = "peak_cuda_mb" if "peak_cuda_mb" in mem["off"] else "peak_rss_mb"
                ratio = {"bench": kind, "memory": key, "peak_ratio_all_vs_off": round(mem["all"][key] / mem["off"][key], 3)}
                if key == "peak_rss_mb":
                    ratio["step_rss_ratio_all_vs_off"] = round(mem["all"]["step_rss_mb"] / mem["off"]["step_rss_mb"], 3)
                print(json.dumps(ratio), flush=True)


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


if __name__ == "__main__":
    main()
