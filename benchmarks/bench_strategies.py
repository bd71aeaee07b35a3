"""Time and memory of every search strategy against DARTS first order, on one supernet and batch.

The strategies are the search strategies exported by :mod:`unnas.modules.strategies` (every subclass of
``SearchStrategy`` in its ``__all__``), each built with its defaults (``--set NAME.arg=value`` overrides one
argument) in a :class:`~unnas.modules.WeightSharingSearch` (so ``configure_supernet``, ``configure_cost`` and the op-weight
rule are installed as in a run). Per strategy:

- ``step_s``: median wall time of one search step as the module runs it (the strategy's architecture gradient and
  an Adam step when ``arch_step``, then a weight forward/backward, clip at 5 and an SGD step), timed round-robin
  over the strategies in this process after ``--warmup`` rounds (the objective's ``prepare``, equal for all, is
  left out);
- ``saved_mb``: the tensors autograd saves for backward in one weight forward pass (``bench_steps.saved_mb``);
- ``peak_rss_mb`` / ``step_rss_mb`` (CPU): the peak resident set of a fresh child process running the warmup steps
  and one step, and that peak above the resident set before the steps (a process's high-water mark cannot be
  reset, so every strategy gets its own child); on CUDA ``peak_cuda_mb`` (``max_memory_allocated`` over the steps)
  and ``step_cuda_mb`` (that peak above the memory allocated before them);
- the epoch end over ``--epochs`` epochs, without training in between: ``epoch_end_s`` the mean per epoch of the
  strategy's ``on_epoch_end`` (the held-out scoring rounds of RandomWS, DDPNAS, TND-NAS, through
  ``WeightSharingSearch.evaluate_samples`` on ``eval_batches`` copies of the architecture batch), ``samples_per_epoch`` the
  cells it scored, and ``record_s`` the mean per epoch of what the module records after it (``derive`` and the
  size of every cell ``cells()`` returns).

Ratios are to ``FirstOrder``. A table prints; ``--out`` writes the rows as JSON.

    OMP_NUM_THREADS=1 python benchmarks/bench_strategies.py --steps 3 --channels 4          # a quick look
    python benchmarks/bench_strategies.py --space nb201 --channels 16 --layers 5 --batch 64 --out strategies.json
    python benchmarks/bench_strategies.py --space darts --channels 16 --layers 8 --batch 64 --set PCDARTS.k=4
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_steps import _release_memory, _sync, saved_mb  # noqa: E402  (benchmarks/ is on the path)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = "FirstOrder"


def strategy_classes() -> dict:
    """Name -> class of every search strategy :mod:`unnas.modules.strategies` exports, the baseline first."""
    import unnas.modules.strategies as package
    from unnas.modules.strategies import SearchStrategy

    names = getattr(package, "__all__", dir(package))
    found = {n: getattr(package, n) for n in names
             if isinstance(getattr(package, n, None), type) and issubclass(getattr(package, n), SearchStrategy)
             and getattr(package, n) is not SearchStrategy}
    return {BASELINE: found.pop(BASELINE), **found}


def parse_overrides(items, known) -> dict:
    """``["NAME.arg=value", ...]`` -> ``{NAME: {arg: value}}`` (values read as YAML: ``4``, ``0.5``, ``uniform``)."""
    import yaml

    out: dict = {}
    for item in items:
        head, sep, value = item.partition("=")
        name, dot, arg = head.partition(".")
        if not sep or not dot or not arg:
            raise SystemExit(f"--set {item!r}: write it as NAME.arg=value, e.g. PCDARTS.k=4")
        if name not in known:
            raise SystemExit(f"--set {item!r}: unknown strategy {name!r}; the strategies are {', '.join(known)}")
        out.setdefault(name, {})[arg] = yaml.safe_load(value)
    return out


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


class Setup:
    """One strategy in a WeightSharingSearch on the benchmark's supernet, its optimisers and two seeded batches."""

    def __init__(self, strategy, args, dev):
        import torch

        import pretext_tasks
        from unnas.modules import WeightSharingSearch
        from unnas.spaces import space_class

        torch.manual_seed(0)
        shape = {"channels": args.channels, **({"layers": args.layers} if args.layers else {})}
        self.strategy = strategy
        self.module = WeightSharingSearch(objective=pretext_tasks.Supervised(num_classes=10),
                                  space=space_class(args.space)(**shape), search_strategy=self.strategy).to(dev)
        self.net = self.module.supernet
        self.loss_fn = self.module.objective.loss
        self.w_opt = torch.optim.SGD(self.net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        self.a_opt = torch.optim.Adam(self.net.arch_parameters(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        g = torch.Generator().manual_seed(1)
        size = (args.batch, 3, args.image_size, args.image_size)
        self.xw, self.xa = torch.rand(size, generator=g).to(dev), torch.rand(size, generator=g).to(dev)
        self.yw = torch.randint(0, 10, (args.batch,), generator=g).to(dev)
        self.ya = torch.randint(0, 10, (args.batch,), generator=g).to(dev)
        self.epochs = max(1, args.epochs)
        self.strategy.on_epoch_start(0, self.epochs)
        self.steps = 0

    def step(self) -> None:
        """One search step as ``WeightSharingSearch`` runs it, seeded by its index."""
        import torch

        torch.manual_seed(self.steps)
        self.steps += 1
        if self.strategy.arch_step:
            self.a_opt.zero_grad()
            self.strategy.arch_gradients(self.net, self.loss_fn, (self.xw, self.yw), (self.xa, self.ya), self.w_opt)
            self.a_opt.step()
        self.w_opt.zero_grad()
        self.loss_fn(self.net(self.xw), self.yw).backward()
        torch.nn.utils.clip_grad_norm_(list(self.net.weight_parameters()), 5.0)
        self.w_opt.step()

    def forward(self) -> None:
        import torch

        torch.manual_seed(0)
        self.loss_fn(self.net(self.xw), self.yw)

    def epoch_end(self, epochs: int) -> dict:
        """Mean seconds per epoch of ``on_epoch_end`` and of the module's record after it, and the cells scored."""
        if epochs < 1:
            return {}
        module, strategy = self.module, self.strategy
        module._held_out = [(self.xa, self.ya)] * max(1, strategy.eval_batches)
        scored = []

        def evaluate(samples):
            scored.append(len(samples))
            return module.evaluate_samples(samples)

        hook, record = [], []
        for epoch in range(epochs):
            strategy.on_epoch_start(epoch, epochs)
            with module._epoch_rng(epoch):
                t0 = time.perf_counter()
                strategy.on_epoch_end(epoch, epochs, evaluate=evaluate if strategy.eval_batches else None)
                _sync(self.xw.device)
                hook.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            strategy.derive(self.net)
            for cell in strategy.cells(self.net):
                module.cell_cost(cell["genotype"])
            record.append(time.perf_counter() - t0)
        return {"epoch_end_s": round(statistics.mean(hook), 4), "record_s": round(statistics.mean(record), 4),
                "samples_per_epoch": round(sum(scored) / epochs, 2), "epochs": epochs}


def build_all(args, dev) -> tuple:
    """``(setups, skipped)``: a :class:`Setup` per strategy that its arguments build, the reason for each other."""
    from unnas.errors import ConfigError
    from unnas.spaces.base import ArchError

    classes = strategy_classes()
    overrides = parse_overrides(args.set, classes)
    names = [n for n in classes if not args.only or n in args.only or n == BASELINE]
    setups, skipped = {}, {}
    for name in names:
        try:
            try:
                strategy = classes[name](**overrides.get(name, {}))
            except TypeError as e:  # an argument the constructor does not take (--set)
                raise ConfigError(f"{name}: {e}") from None
            setups[name] = Setup(strategy, args, dev)
        except (ConfigError, ArchError) as e:  # a value the strategy, or its supernet, refuses
            if name == BASELINE:
                raise
            skipped[name] = str(e).splitlines()[0]
    return setups, skipped


def child_memory(name: str, args) -> dict:
    """Peak memory of ``--warmup`` + 1 steps of strategy *name*, alone in this process."""
    import torch

    dev = torch.device(args.device)
    classes = strategy_classes()
    setup = Setup(classes[name](**parse_overrides(args.set, classes).get(name, {})), args, dev)
    _release_memory()
    before = _rss_mb()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        allocated = torch.cuda.memory_allocated(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    for _ in range(args.warmup + 1):
        setup.step()
    _sync(dev)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    row = {"peak_rss_mb": round(peak, 1), "step_rss_mb": round(peak - before, 1)}
    if dev.type == "cuda":
        top = torch.cuda.max_memory_allocated(dev)
        row.update(peak_cuda_mb=round(top / 2 ** 20, 1), step_cuda_mb=round((top - allocated) / 2 ** 20, 1))
    return row


def run_memory_child(name: str, argv) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--child", name], capture_output=True,
                         text=True, cwd=ROOT)
    rows = [json.loads(line[7:]) for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if not rows:
        print(f"{name}: the memory child failed\n{out.stderr[-2000:]}", file=sys.stderr)
        return {}
    return rows[-1]


def measure(args, argv) -> dict:
    """Every strategy's row (time, saved tensors, epoch end, peak memory), the skipped ones and the settings."""
    import torch

    dev = torch.device(args.device)
    setups, skipped = build_all(args, dev)
    rows = {name: {"strategy": name, "arch_step": s.strategy.arch_step, "eval_batches": s.strategy.eval_batches}
            for name, s in setups.items()}
    for name, s in setups.items():
        rows[name]["saved_mb"] = round(saved_mb(s.forward), 2)
        _release_memory()
    times = {name: [] for name in setups}
    for r in range(args.warmup + args.steps):
        for name, s in setups.items():
            _sync(dev)
            t0 = time.perf_counter()
            s.step()
            _sync(dev)
            if r >= args.warmup:
                times[name].append(time.perf_counter() - t0)
            _release_memory()
    for name, t in times.items():
        rows[name].update(step_s=round(statistics.median(t), 5), step_min_s=round(min(t), 5),
                          step_max_s=round(max(t), 5))
    for name, s in setups.items():
        rows[name].update(s.epoch_end(args.epochs))
    del setups
    _release_memory()
    if not args.no_memory:
        for name in rows:
            rows[name].update(run_memory_child(name, argv))
    base = rows[BASELINE]
    for row in rows.values():
        for key in ("step_s", "saved_mb", "step_rss_mb", "peak_cuda_mb", "step_cuda_mb"):
            if key in row and base.get(key):
                row[f"{key}_vs_{BASELINE}"] = round(row[key] / base[key], 3)
    settings = {k: getattr(args, k) for k in ("space", "channels", "layers", "batch", "image_size", "steps", "warmup",
                                               "epochs", "threads", "device", "set")}
    settings["torch"] = torch.__version__
    return {"settings": settings, "rows": list(rows.values()), "skipped": skipped}


def table(result: dict) -> str:
    """The rows as a Markdown table with ratios to the baseline."""
    rows = result["rows"]
    cuda = any("peak_cuda_mb" in r for r in rows)
    mem = ("step_cuda_mb", "peak CUDA above start MB") if cuda else ("step_rss_mb", "peak RSS above start MB")

    def cell(row, key, ratio=True, fmt="{:.4g}"):
        if key not in row:
            return "–"
        text = fmt.format(row[key])
        r = row.get(f"{key}_vs_{BASELINE}")
        return f"{text} ({r:.2f}x)" if ratio and r is not None else text

    head = ["strategy", "step s (median)", "saved MB (forward)", mem[1], "epoch end s/epoch", "cells scored/epoch",
            "record s/epoch"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([r["strategy"], cell(r, "step_s"), cell(r, "saved_mb"), cell(r, mem[0]),
                                        cell(r, "epoch_end_s", False), cell(r, "samples_per_epoch", False),
                                        cell(r, "record_s", False)]) + " |")
    for name, why in result["skipped"].items():
        lines.append(f"{name}: skipped: {why}")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from unnas.spaces import space_class, space_names

    searchable = [name for name in space_names() if space_class(name).searchable]
    p.add_argument("--space", choices=searchable, default="nb201", help="the supernet (a space that has one)")
    p.add_argument("--channels", type=int, default=16, help="supernet channels (both spaces' default: 16)")
    p.add_argument("--layers", type=int, default=0,
                   help="cells per stage (nb201, default 5) or cells (darts, default 8); 0: the space's default")
    p.add_argument("--batch", type=int, default=64, help="images per split per step")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed rounds (each round steps every strategy once)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first (the memory children run them too)")
    p.add_argument("--epochs", type=int, default=8,
                   help="epoch ends timed per strategy (the CPU configs' max_epochs); 0 skips them")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--set", action="append", default=[], metavar="NAME.arg=value",
                   help="a strategy argument, e.g. --set PCDARTS.k=4 --set DDPNAS.prune_every=2 (repeatable)")
    p.add_argument("--only", nargs="+", default=[], metavar="NAME", help="only these strategies (and the baseline)")
    p.add_argument("--no-memory", action="store_true", help="skip the per-strategy peak-memory children")
    p.add_argument("--out", help="write the settings, rows and skipped strategies as JSON here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.child:
        print("RESULT " + json.dumps(child_memory(args.child, args)), flush=True)
        return
    known = strategy_classes()
    unknown = [n for n in args.only if n not in known]
    if unknown:
        raise SystemExit(f"--only {' '.join(unknown)}: unknown strategies; the strategies are {', '.join(known)}")
    child_argv = list(argv)
    if "--device" not in child_argv:
        child_argv += ["--device", args.device]
    from unnas.errors import ConfigError
    from unnas.spaces.base import ArchError

    try:
        result = measure(args, child_argv)
    except (ConfigError, ArchError) as e:  # a shape or baseline argument refused, in the project's words
        raise SystemExit(f"bench_strategies: error: {e}") from None
    print(table(result))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
