"""Time every training-free ranker (all of ``unnas.rankers.RANKERS``) on the paper's 500 DARTS architectures.

Each architecture is built at the CPU study's network shape (the DARTS space arguments of ``--config``,
``configs/study/cifar10_cpu/base.yaml``: NetworkCIFAR, C=8, 5 cells; ``--channels`` / ``--layers`` override
them) after ``torch.manual_seed(--seed)`` and scored by each ranker on the seeded Gaussian batch of ``unnas rank``
(``gaussian_batch((3, 32, 32), --batch, 10, --seed)``; loss rankers: cross-entropy on its labels). Each
``Ranker.score`` call is timed on its own (its deep copy of the network included); building the network is timed
apart. ``--warmup`` architectures (the first ones, scored again later) are scored untimed first. One line per
ranker and the total print on stdout; ``--out`` writes the per-ranker total and per-architecture seconds as JSON.

    python benchmarks/bench_rankers.py                                   # all rankers, all 500, batch 64, 2 threads
    python benchmarks/bench_rankers.py --archs 3 --threads 1             # a quick look (3 evenly spaced archs)
    python benchmarks/bench_rankers.py --rankers naswot,grasp --archs 20 --out rankers.json

``--workers K`` times ``unnas rank`` end to end instead: the architectures' ids on its stdin, every ranker, K worker
processes with ``--threads`` torch threads each, the wall time from the call to the last line (the workers'
start-up included), e.g. all 500 on both cores of a 2-core CPU:

    python benchmarks/bench_rankers.py --workers 2 --threads 1 --batch 16 --out rank_e2e.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(ROOT, "configs", "study", "cifar10_cpu", "base.yaml")
#: the paper's 500 DARTS architectures
ARCH_SET = "unnas500"


def space_arguments(config: str) -> dict:
    """The DARTS space's ``init_args`` of the training config *config* (``model.init_args.space``)."""
    import yaml

    with open(config, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    try:
        space = cfg["model"]["init_args"]["space"]
    except (KeyError, TypeError):
        raise SystemExit(f"{config} has no model.init_args.space; pass a DARTS training config") from None
    if not str(space.get("class_path", "")).endswith("DartsSpace"):
        raise SystemExit(f"{config}: the space is {space.get('class_path')}, not unnas.spaces.DartsSpace; the "
                         f"{ARCH_SET} architectures are DARTS cells")
    return dict(space.get("init_args") or {})


def time_rankers(archs, space, rankers, batch, seed: int, warmup: int, log=None) -> dict:
    """``{"build": [s...], ranker name: [s...]}``: seconds per architecture of building each network and of each
    ranker's ``score``, in *archs* order (``(id, genotype)`` pairs), after scoring the first *warmup* untimed."""
    import torch

    def build(genotype):
        torch.manual_seed(seed)
        return space.network(space.load(genotype), num_classes=10)

    for _, genotype in archs[:warmup]:
        net = build(genotype)
        for ranker in rankers:
            ranker.score(net, batch)
    from unnas.rankers.aggregate import calibrate

    for ranker in rankers:  # an aggregate's reference sample, once, untimed (its one-off cost is not per architecture)
        calibrate(ranker, space, build, batch)
    times = {"build": [], **{r.name: [] for r in rankers}}
    for i, (arch_id, genotype) in enumerate(archs):
        t0 = time.perf_counter()
        net = build(genotype)
        times["build"].append(time.perf_counter() - t0)
        for ranker in rankers:
            t0 = time.perf_counter()
            ranker.score(net, batch)
            times[ranker.name].append(time.perf_counter() - t0)
        if log is not None:
            done = sum(sum(v) for v in times.values())
            print(f"{i + 1}/{len(archs)} {arch_id} {done:.1f}s", file=log, flush=True)
    return times


def time_rank_command(archs, names, shape: dict, batch: int, seed: int, threads: int, workers: int) -> dict:
    """Wall seconds of ``unnas rank`` over *archs* (``(id, genotype)`` pairs, their ids on stdin) with every ranker
    of *names*, and its output rows."""
    import io

    from unnas.cli import main as unnas_main

    argv = ["rank", "-", "--space", "darts", "--rankers", ",".join(names), "--batch", str(batch), "--seed", str(seed),
            "--threads", str(threads), "--workers", str(workers), "--json"]
    for key in ("channels", "layers"):
        if key in shape:
            argv += [f"--{key}", str(shape[key])]
    out = io.StringIO()
    t0 = time.perf_counter()
    status = unnas_main(argv, out=out, stdin=io.StringIO("".join(f"{a}\n" for a, _ in archs)))
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"unnas {' '.join(argv)} failed with status {status}")
    return {"wall_s": wall, "rows": [json.loads(line) for line in out.getvalue().splitlines()]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", type=int, default=500,
                   help=f"time N of the {ARCH_SET} architectures, evenly spaced (default all 500)")
    p.add_argument("--rankers", default=None, help="comma-separated rankers (default: every registered ranker)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="training config whose DARTS space shape to use")
    p.add_argument("--channels", type=int, help="initial channels C (default: the config's)")
    p.add_argument("--layers", type=int, help="cells (default: the config's)")
    p.add_argument("--batch", type=int, default=64, help="images in the seeded Gaussian batch (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--warmup", type=int, default=1, help="architectures scored untimed first (default 1)")
    p.add_argument("--out", help="write the timings as JSON to this file")
    p.add_argument("--quiet", action="store_true", help="no per-architecture progress on stderr")
    p.add_argument("--reference", type=int, default=None,
                   help="reference-sample size of the aggregate rankers (default: theirs, 128), scored once untimed")
    p.add_argument("--workers", type=int, default=0,
                   help="time `unnas rank` end to end with this many worker processes (default 0: every ranker "
                        "timed on its own in this process)")
    args = p.parse_args(argv)
    for flag in ("archs", "batch", "threads"):
        if getattr(args, flag) < 1:
            raise SystemExit(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    if args.warmup < 0:
        raise SystemExit(f"--warmup must be at least 0, got {args.warmup}")
    if args.workers < 0:
        raise SystemExit(f"--workers must be at least 0, got {args.workers}")

    import torch

    from unnas.errors import ConfigError
    from unnas.rankers import RANKERS, gaussian_batch, ranker_class
    from unnas.spaces import ArchError, DartsSpace

    torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.rankers.split(",") if n.strip()] if args.rankers else list(RANKERS)
    shape = space_arguments(args.config)
    shape.update({k: v for k, v in (("channels", args.channels), ("layers", args.layers)) if v is not None})
    spec = f"{ARCH_SET}:{args.archs}" if args.archs != 500 else ARCH_SET
    try:
        rankers = [ranker_class(n)(seed=args.seed) for n in names]
        for ranker in rankers:
            if args.reference is not None and hasattr(ranker, "reference"):
                ranker.reference = args.reference
        space = DartsSpace(**shape)
        archs = space.arch_set(spec)
        space.network(archs[0][1], num_classes=10)  # a shape the network cannot take fails here, in one line
    except (ConfigError, ArchError) as e:
        raise SystemExit(str(e)) from None
    if args.workers:
        run = time_rank_command(archs, names, shape, args.batch, args.seed, args.threads, args.workers)
        n = len(archs)
        print(f"# unnas rank over {n} {ARCH_SET} architectures, {len(names)} rankers, DartsSpace("
              f"{', '.join(f'{k}={v}' for k, v in shape.items())}), batch {args.batch}, {args.workers} worker(s) x "
              f"{args.threads} thread(s), torch {torch.__version__}")
        print(f"{'wall':<10} {run['wall_s']:9.2f} s   {run['wall_s'] / n:7.3f} s/arch ({run['wall_s'] / 60:.2f} min)")
        if args.out:
            record = {"command": " ".join(["python", "benchmarks/bench_rankers.py",
                                           *(sys.argv[1:] if argv is None else argv)]),
                      "arch_set": spec, "space": shape, "batch": args.batch, "seed": args.seed,
                      "workers": args.workers, "threads": args.threads, "rankers": names, "torch": torch.__version__,
                      "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                      "wall_s": run["wall_s"], "rows": run["rows"]}
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump(record, f, indent=1)
            print(f"wrote {args.out}")
        return
    batch = gaussian_batch((3, 32, 32), args.batch, 10, args.seed)

    times = time_rankers(archs, space, rankers, batch, args.seed, min(args.warmup, len(archs)),
                         None if args.quiet else sys.stderr)
    n = len(archs)
    print(f"# {n} {ARCH_SET} architectures, DartsSpace({', '.join(f'{k}={v}' for k, v in shape.items())}), "
          f"batch {args.batch}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    for name in names:
        total = sum(times[name])
        print(f"{name:<10} {total:9.2f} s   {total / n:7.3f} s/arch")
    ranked = sum(sum(times[name]) for name in names)
    print(f"{'build':<10} {sum(times['build']):9.2f} s   {sum(times['build']) / n:7.3f} s/arch")
    print(f"{'total':<10} {ranked:9.2f} s   {ranked / n:7.3f} s/arch (rankers; building the networks not included)")
    if args.out:
        record = {
            "command": " ".join(["python", "benchmarks/bench_rankers.py", *(sys.argv[1:] if argv is None else argv)]),
            "arch_set": spec, "archs": [a for a, _ in archs], "space": shape, "batch": args.batch,
            "seed": args.seed, "threads": torch.get_num_threads(), "warmup": args.warmup,
            "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "rankers": {name: {"total_s": sum(times[name]), "per_arch_s": times[name]} for name in names},
            "build": {"total_s": sum(times["build"]), "per_arch_s": times["build"]},
            "total_s": ranked,
        }
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
