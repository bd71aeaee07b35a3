"""The ``unnas`` command line.

``unnas fit | validate | test -c CONFIG`` runs a search or a training through LightningCLI
(:mod:`unnas.lightning_cli`); ``unnas arch ...`` inspects genotypes (info, draw, sample, list, show).
Errors in user input end the command with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Iterable, List, Optional, Sequence, TextIO, Tuple

from unnas.errors import ConfigError
from unnas.spaces.base import ArchError, DatasetSpec, detect_space, space_class, space_names


class UsageError(Exception):
    """Bad command-line input; reported as one line."""


SPACE_HELP = "the search space (default: recognised from the architecture; darts when nothing else claims it)"


def _all_datasets() -> List[str]:
    names: List[str] = []
    for space in space_names():
        names += [d for d in space_class(space).datasets if d not in names]
    return names


DATASETS = _all_datasets()


def _space_for(args: argparse.Namespace, spec) -> type:
    """The space class of *spec*: ``--space`` when given, else the one *spec* belongs to."""
    return space_class(args.space) if getattr(args, "space", None) else detect_space(spec)


def _dataset(cls: type, name: Optional[str]) -> Tuple[str, DatasetSpec]:
    name = name or next(iter(cls.datasets))
    if name not in cls.datasets:
        raise UsageError(f"--dataset {name} is not a dataset of the {cls.name} space; use one of {', '.join(cls.datasets)}")
    return name, cls.datasets[name]


def _positive(value: Optional[int], flag: str) -> Optional[int]:
    if value is not None and value < 1:
        raise UsageError(f"{flag} must be at least 1, got {value}")
    return value


def _archs(args: argparse.Namespace, specs: Sequence[str], stdin: TextIO) -> Iterable[Tuple[str, type, object]]:
    """``(label, space class, arch)`` for each argument; ``-`` reads one per line from *stdin*."""
    from unnas.spaces import read_arch_lines

    fixed = space_class(args.space)() if getattr(args, "space", None) else None
    for spec in specs:
        if spec == "-":
            for label, space, arch in read_arch_lines(stdin, "stdin", fixed):
                yield label, type(space), arch
        else:
            cls = _space_for(args, spec)
            yield spec, cls, (fixed or cls()).load(spec)


def arch_info(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    import torch

    from unnas.spaces.complexity import count_macs, count_params

    torch.set_num_threads(max(1, args.threads))
    _positive(args.channels, "--channels")
    _positive(args.layers, "--layers")
    _positive(args.num_classes, "--num-classes")
    _positive(args.input_channels, "--input-channels")
    for spec in args.genotypes:  # fail on a bad argument before printing anything
        if spec != "-":
            cls = _space_for(args, spec)
            cls().load(spec)
            _dataset(cls, args.dataset)
    spaces: dict = {}

    def setting(cls):
        if cls.name not in spaces:
            dataset, spec = _dataset(cls, args.dataset)
            kwargs = dict(spec.space_kwargs)
            if args.channels is not None:
                kwargs["channels"] = args.channels
            if args.layers is not None:
                kwargs["layers"] = args.layers
            if args.auxiliary:
                kwargs["auxiliary"] = True
            try:
                space = cls(**kwargs)
            except TypeError as e:
                raise UsageError(f"the {cls.name} space does not take these options ({e})") from None
            classes = args.num_classes or spec.num_classes
            task = _make_task(args.task, spec.style, classes) if args.task else None
            input_channels = task.input_channels if task else args.input_channels
            input_shape = task.input_shape(spec.image_size) if task else (input_channels, spec.image_size, spec.image_size)
            spaces[cls.name] = (space, dataset, classes, task, input_channels, input_shape)
            if not args.json:
                print(f"# space={cls.name} dataset={dataset} task={args.task or 'supervised'} "
                      + " ".join(f"{k}={v}" for k, v in space.shape().items())
                      + f" num_classes={task.num_classes if task else classes} input={'x'.join(map(str, input_shape))}",
                      file=out)
                print(f"{'genotype':<28} {'params':>12} {'params_with_aux':>16} {'MACs':>14}", file=out)
        return spaces[cls.name]

    n = 0
    for label, cls, arch in _archs(args, args.genotypes, stdin):
        space, dataset, classes, task, input_channels, input_shape = setting(cls)
        net = space.network(arch, head=task.head if task else None, num_classes=classes, input_channels=input_channels)
        row = {
            "genotype": label,
            "space": cls.name,
            "params": count_params(net),
            "params_with_aux": count_params(net, exclude_auxiliary=False),
            "macs": count_macs(net, input_shape),
            "dataset": dataset,
            **space.shape(),
            "task": args.task or "supervised",
            "num_classes": task.num_classes if task else classes,
            "input_shape": list(input_shape),
        }
        n += 1
        if args.json:
            print(json.dumps(row), file=out, flush=True)
        else:
            print(f"{label:<28} {row['params']:>12,} {row['params_with_aux']:>16,} {row['macs']:>14,}", file=out, flush=True)
    if not n:
        raise UsageError("no genotypes given (stdin was empty)")


def _make_task(name: str, style: str, num_classes: int):
    """The objective whose head and input shape `arch info --task` measures (UnNAS's settings for the style)."""
    import pretext_tasks

    if name == "supervised":
        return pretext_tasks.Supervised(num_classes=num_classes, style=style)
    return {"rotation": pretext_tasks.Rotation, "colorization": pretext_tasks.Colorization,
            "jigsaw": pretext_tasks.Jigsaw}[name](style=style)


def arch_draw(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    cls = _space_for(args, args.genotype)
    space = cls()
    arch = space.load(args.genotype)
    try:
        space.draw(arch, args.out, title=args.title if args.title is not None else args.genotype)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {args.out}", file=out)


def arch_sample(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    if args.n < 1:
        raise UsageError(f"--n must be at least 1, got {args.n}")
    space = space_class(args.space or "darts")()
    lines = [json.dumps({"id": f"s{args.seed}-{i:05d}", **space.to_dict(g)}) for i, g in enumerate(space.sample(args.n, args.seed))]
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        print(f"wrote {len(lines)} genotypes to {args.out}", file=out)
    else:
        print("\n".join(lines), file=out)


def arch_list(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    for name in ([args.space] if args.space else space_names()):
        space = space_class(name)()
        for key in (list(space.registry()) if args.all else space.listed_names()):
            print(f"{key:<24} {space.describe(key)}", file=out)
        if not args.all:
            for pattern, about in space.collapsed_names():
                print(f"{pattern:<24} {about}", file=out)


def arch_show(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    space = _space_for(args, args.genotype)()
    arch = space.load(args.genotype)
    print(space.to_json(arch) if args.json else space.format(arch), file=out)


def bench_query(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    """True accuracies from a space's ground truth; a cell it does not hold gets one line naming the source, and the
    exit status is then 1."""
    cls = space_class(args.space) if args.space else None
    specs = list(args.genotypes)
    if cls is None:
        cls = detect_space(next((s for s in specs if s != "-"), ""))
    space = cls()
    truth = space.ground_truth(args.dataset, path=args.benchmark, metric=args.metric)
    if truth is None:
        with_truth = [n for n in space_names() if space_class(n)().ground_truth() is not None]
        raise UsageError(f"the {cls.name} space has no ground truth; spaces with one: {', '.join(with_truth)}")
    args.space = cls.name
    missing = 0
    for label, _, arch in _archs(args, specs, stdin):
        acc = truth.query(arch)
        if args.json:
            print(json.dumps({"genotype": label, "space": cls.name, "accuracy": acc, "source": truth.coverage()}), file=out)
        elif acc is not None:
            print(f"{label}\t{acc:.2f}", file=out)
        if acc is None:
            missing += 1
            if not args.json:
                prefix = "" if label.strip() == str(arch) else f"{label}: "
                print(f"unnas: {prefix}{truth.explain_missing(arch)}", file=sys.stderr, flush=True)
    return 1 if missing else 0


def _study_errors():
    from unnas.study.store import StudyError

    return StudyError


def study_init(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from unnas.study.worker import init_study

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    store = init_study(args.dir, archs=args.archs, tasks=tasks, seeds=seeds, config=args.config, data_root=args.data_root,
                       space=args.space)
    counts = store.counts()
    total = sum(sum(c.values()) for c in counts.values())
    print(f"study in {args.dir}: {total} jobs ({args.archs} x {len(tasks)} objectives x {len(seeds)} seeds); "
          f"run them with `unnas study work {args.dir}`", file=out)


def study_work(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from unnas.study.store import Store
    from unnas.study.worker import spawn_workers, work

    Store.open(args.dir)
    if args.retry_failed:
        print(f"re-queued {Store(args.dir).retry_failed()} failed jobs", file=out)
    if args.workers > 1:
        status = spawn_workers(args.dir, args.workers, args.max_jobs, args.lease, args.threads)
        if status:
            raise UsageError(f"a worker exited with status {status}; see its output above")
        return
    import torch

    torch.set_num_threads(args.threads or torch.get_num_threads())
    n = work(args.dir, max_jobs=args.max_jobs, lease_s=args.lease, log=lambda m: print(m, file=out, flush=True))
    print(f"this worker recorded {n} jobs", file=out)


def study_run(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    """One named job (what a W&B sweep agent runs); logs its result to W&B too when W&B is on."""
    from unnas.study.store import Store, StudyError
    from unnas.study.worker import work

    store = Store.open(args.dir)
    job_id = store.find(args.arch, args.task, args.seed)
    if job_id is None:
        raise StudyError(f"{args.dir} has no job for arch {args.arch}, task {args.task}, seed {args.seed}")
    records: list = []

    def run_and_log(directory, job, renew=None):
        from unnas.study.worker import train_job

        result = train_job(directory, job, renew=renew)
        records.append(result)
        return result

    import torch

    torch.set_num_threads(args.threads or torch.get_num_threads())
    n = work(args.dir, lease_s=args.lease, run_job=run_and_log, log=lambda m: print(m, file=out, flush=True), job_id=job_id)
    if n == 0 and not records:
        state = store.counts().get(args.task, {})
        print(f"job {job_id} was not run: it is done or held by another worker ({args.task} jobs: {state})", file=out)
        return
    if records and os.environ.get("WANDB_MODE", "offline") != "disabled":
        import wandb

        run = wandb.init(project=args.wandb_project, config={"arch": args.arch, "task": args.task, "seed": args.seed},
                         reinit=True)
        run.log({k: v for k, v in records[0].items() if isinstance(v, (int, float))})
        run.summary.update({"best_acc": records[0]["best_acc"]})
        run.finish()


def study_status(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from unnas.study.store import Store
    from unnas.study.worker import progress_line

    store = Store.open(args.dir)
    counts = store.counts()
    states = ("done", "running", "stale", "failed", "pending")
    print(f"{'objective':<14}" + "".join(f"{s:>9}" for s in states), file=out)
    for task, c in counts.items():
        print(f"{task:<14}" + "".join(f"{c.get(s, 0):>9}" for s in states), file=out)
    print(progress_line(store), file=out)
    for r in store.running():
        print(f"running: job {r['id']} {r['arch']} {r['task']} seed {r['seed']} on {r['worker']}", file=out)
    for f in store.failures():
        first = (f["error"] or "").splitlines()[0] if f["error"] else ""
        print(f"failed: job {f['id']} {f['arch']} {f['task']} seed {f['seed']} (attempts {f['attempts']}): {first}", file=out)


def study_report(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from unnas.study.report import build_report

    if args.wandb:
        records = _records_from_wandb(args.wandb)
    else:
        from unnas.study.store import Store

        records = Store.open(args.dir).results()
    if not records:
        raise UsageError("no finished jobs to report yet; see `unnas study status`")
    reference = None
    if args.reference:
        with open(args.reference, encoding="utf-8") as f:
            reference = {str(k): float(v) for k, v in json.load(f).items()}
    truth, truth_name = (None, None) if args.wandb else _study_ground_truth(args)
    extra = {"ground_truth": truth, "ground_truth_name": truth_name} if truth is not None else {}
    result = build_report(records, args.out, reference=reference, title=args.title, n_boot=args.n_boot, **extra)
    if args.log_wandb or os.environ.get("WANDB_MODE") == "online":
        import wandb

        from unnas.study.report import log_report_to_wandb

        run = wandb.init(project=args.wandb_project, job_type="report")
        log_report_to_wandb(result, run)
        run.finish()
    print(f"wrote {os.path.join(args.out, 'report.md')}, report.html and correlations.json", file=out)


def _study_ground_truth(args: argparse.Namespace):
    """``({arch id: true accuracy or None}, source line)`` for a study whose space has ground truth, else ``(None, None)``."""
    from unnas.study.store import Store

    if args.no_ground_truth:
        return None, None
    store = Store.open(args.dir)
    space = space_class(store.meta().get("space", "darts"))()
    truth = space.ground_truth(args.gt_dataset, path=args.benchmark)
    if truth is None:
        return None, None
    dataset = getattr(truth, "dataset", None)
    name = f"true {dataset}" if dataset else "true"  # the report labels its axis "<name> accuracy (%)"
    return {arch: truth.query(space.load(text)) for arch, text in store.archs()}, name


def _records_from_wandb(path: str) -> list:
    """Result records from the runs of a W&B sweep ``ENTITY/PROJECT/SWEEP`` (needs W&B online)."""
    import wandb

    try:
        sweep = wandb.Api().sweep(path)
    except Exception as e:  # noqa: BLE001 - any API failure is a one-line user error here
        raise UsageError(f"cannot read W&B sweep {path}: {e}") from None
    records = []
    for run in sweep.runs:
        cfg, summary = run.config, run.summary
        if "best_acc" in summary and {"arch", "task", "seed"} <= set(cfg):
            records.append({"arch": cfg["arch"], "task": cfg["task"], "seed": int(cfg["seed"]),
                            "best_acc": float(summary["best_acc"])})
    return records


def study_sweep(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    """Write a W&B sweep file whose grid is this study's jobs; each agent run executes one `unnas study run`."""
    from unnas.study.store import Store

    store = Store.open(args.dir)
    meta = store.meta()
    archs = [a for a, _ in store.archs()]
    lines = [
        f"# W&B sweep over the jobs of the study in {args.dir} (written by `unnas study sweep`).",
        f"#   wandb sweep {args.out} && wandb agent ENTITY/PROJECT/SWEEP_ID   (from the repository root)",
        "# Each run trains one (arch, task, seed) job, records it in the study store and logs best_acc to W&B.",
        "program: unnas/__main__.py",
        "method: grid",
        "metric: {name: best_acc, goal: maximize}",
        "command:  # a block list: `${...}` inside a flow list is not valid YAML",
        *[f"  - {c}" for c in ("${env}", "${interpreter}", "-m", "unnas", "study", "run", json.dumps(args.dir), "${args}")],
        "parameters:",
        "  arch:",
        "    values: [" + ", ".join(json.dumps(a) for a in archs) + "]",
        "  task:",
        "    values: [" + ", ".join(json.dumps(t) for t in meta["tasks"]) + "]",
        "  seed:",
        "    values: [" + ", ".join(str(s) for s in meta["seeds"]) + "]",
    ]
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}: {len(archs) * len(meta['tasks']) * len(meta['seeds'])} runs", file=out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unnas", description="Unsupervised neural architecture search experiments.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("fit", "search or train (LightningCLI; `unnas fit --help`)"),
                       ("validate", "evaluate a checkpoint on the held-out split"),
                       ("test", "test a checkpoint on the held-out split")):
        sub.add_parser(name, help=text, add_help=False)
    arch = sub.add_parser("arch", help="inspect genotypes: info, draw, sample, list, show")
    asub = arch.add_subparsers(dest="arch_command", required=True, metavar="ARCH_COMMAND")

    info = asub.add_parser("info", help="parameters and multiply-adds of genotypes' networks")
    info.add_argument("genotypes", nargs="+", metavar="GENOTYPE",
                      help="registered name, the space's notation (Genotype(...), an NAS-Bench-201 arch string), JSON, "
                           "a .json file, or - to read one per line from stdin")
    info.add_argument("--space", choices=space_names(), help=SPACE_HELP)
    info.add_argument("--dataset", choices=DATASETS, default=None,
                      help="network family, classes and input size (default: the space's first: cifar10). "
                           "darts: cifar10, cifar100 (32x32), imagenet (224x224); nb201: cifar10, cifar100 (32x32), "
                           "imagenet16-120 (16x16)")
    info.add_argument("--channels", type=int, help="initial channels C (default: darts cifar 36, imagenet 48; nb201 16)")
    info.add_argument("--layers", type=int,
                      help="depth: darts cells L (default: cifar 20, imagenet 14); nb201 cells per stage N (default 5)")
    info.add_argument("--auxiliary", action="store_true", help="build the auxiliary head (darts; counted in params_with_aux)")
    info.add_argument("--num-classes", type=int, help="classifier outputs (default from --dataset)")
    info.add_argument("--input-channels", type=int, default=3, help="input channels (ignored with --task)")
    info.add_argument("--task", choices=["supervised", "rotation", "colorization", "jigsaw"],
                      help="measure this objective's network: its head, stem and one sample's input "
                           "(rotation: one rotated image; colorization: L channel + 313-bin dense head; jigsaw: all tiles)")
    info.add_argument("--json", action="store_true", help="one JSON object per genotype per line")
    info.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    info.set_defaults(func=arch_info)

    draw = asub.add_parser("draw", help="draw the normal and reduction cells to PNG, SVG or PDF")
    draw.add_argument("genotype", metavar="GENOTYPE")
    draw.add_argument("--space", choices=space_names(), help=SPACE_HELP)
    draw.add_argument("--out", required=True, help="output file; the suffix picks the format")
    draw.add_argument("--title", help="figure title (default: the genotype argument)")
    draw.set_defaults(func=arch_draw)

    sample = asub.add_parser("sample", help="sample architectures of a space reproducibly (JSON lines)")
    sample.add_argument("--space", choices=space_names(), default="darts", help="the space to sample (default darts)")
    sample.add_argument("--n", type=int, required=True, help="how many")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", help="write to this file instead of stdout")
    sample.set_defaults(func=arch_sample)

    lst = asub.add_parser("list", help="list the registered genotypes")
    lst.add_argument("--all", action="store_true", help="every registered name (the 500 unnas500/<id>, nb201/<index>)")
    lst.add_argument("--space", choices=space_names(), help="only this space")
    lst.set_defaults(func=arch_list)

    study = sub.add_parser("study", help="the sample-based study: init, work, status, run, report")
    ssub = study.add_subparsers(dest="study_command", required=True, metavar="STUDY_COMMAND")
    init = ssub.add_parser("init", help="create the jobs (architecture x objective x seed) in DIR")
    init.add_argument("dir")
    init.add_argument("--archs", default="unnas500",
                      help="a space's set: darts: unnas500 (the paper's 500), unnas500:N (N of them, evenly spaced), "
                           "sample:N[:SEED]; nb201: nb201-table[:N[:SEED]] (cells of the ground-truth table, evenly "
                           "spaced or drawn with SEED), nb201-sample:N[:SEED]; or a file of architectures")
    init.add_argument("--space", choices=space_names(), help="the search space (default: recognised from --archs)")
    init.add_argument("--tasks", default="supervised,rotation,colorization,jigsaw", help="comma-separated objectives")
    init.add_argument("--seeds", default="1", help="comma-separated seeds (the paper: 1,2,3 on CIFAR-10)")
    init.add_argument("--config",
                      help="study config: objective -> training config (default: the space's CPU recipe, "
                           "configs/study/cifar10_cpu.yaml for darts, configs/study/nb201_cifar10_cpu.yaml for nb201; "
                           "configs/study/cifar10_paper.yaml is the paper's)")
    init.add_argument("--data-root", help="replace the data root of every training config (e.g. ../shared/data/cifar10)")
    init.set_defaults(func=study_init)

    wk = ssub.add_parser("work", help="claim and train jobs until none is left")
    wk.add_argument("dir")
    wk.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    wk.add_argument("--max-jobs", type=int, help="stop after this many jobs (per worker)")
    wk.add_argument("--lease", type=float, default=900.0, help="seconds a claimed job stays reserved without a renewal")
    wk.add_argument("--threads", type=int, help="torch threads per worker (default: cores / workers)")
    wk.add_argument("--retry-failed", action="store_true", help="re-queue failed jobs first")
    wk.set_defaults(func=study_work)

    st = ssub.add_parser("status", help="what is done, running, failed and left")
    st.add_argument("dir")
    st.set_defaults(func=study_status)

    rn = ssub.add_parser("run", help="run one job (used by W&B sweep agents)")
    rn.add_argument("dir")
    rn.add_argument("--arch", required=True)
    rn.add_argument("--task", required=True)
    rn.add_argument("--seed", type=int, required=True)
    rn.add_argument("--lease", type=float, default=900.0)
    rn.add_argument("--threads", type=int)
    rn.add_argument("--wandb-project", default="unnas-study")
    rn.set_defaults(func=study_run)

    sw = ssub.add_parser("sweep", help="write a W&B sweep file whose grid is this study's jobs")
    sw.add_argument("dir")
    sw.add_argument("--out", required=True)
    sw.set_defaults(func=study_sweep)

    rp = ssub.add_parser("report", help="rank correlations, plots and tables of the finished jobs")
    rp.add_argument("dir", nargs="?", help="the study folder (not needed with --wandb)")
    rp.add_argument("--out", required=True, help="output folder")
    rp.add_argument("--wandb", metavar="ENTITY/PROJECT/SWEEP", help="read the results from a W&B sweep instead")
    rp.add_argument("--reference", help="JSON {arch: accuracy} of a target setting (e.g. ImageNet) for the best-of-m curve")
    rp.add_argument("--title", default="unnas sample-based study")
    rp.add_argument("--gt-dataset", help="dataset of the space's ground truth (nb201: cifar10, cifar100, "
                                         "imagenet16-120; default cifar10)")
    rp.add_argument("--benchmark", metavar="PATH", help="ground-truth file instead of the space's embedded table")
    rp.add_argument("--no-ground-truth", action="store_true", help="leave the ground-truth comparison out")
    rp.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the intervals")
    rp.add_argument("--log-wandb", action="store_true",
                    help="also log the tables and plots to W&B (automatic when WANDB_MODE=online)")
    rp.add_argument("--wandb-project", default="unnas-study")
    rp.set_defaults(func=study_report)

    show = asub.add_parser("show", help="print an architecture in its space's notation (or JSON)")
    show.add_argument("genotype", metavar="GENOTYPE")
    show.add_argument("--space", choices=space_names(), help=SPACE_HELP)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=arch_show)

    bench = sub.add_parser("bench", help="ground truth: the known accuracies of a space's architectures")
    bsub = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH_COMMAND")
    q = bsub.add_parser("query", help="true accuracy (%%) of architectures from the space's benchmark")
    q.add_argument("genotypes", nargs="+", metavar="GENOTYPE", help="architectures, or - to read one per line")
    q.add_argument("--space", choices=space_names(), help=SPACE_HELP)
    q.add_argument("--dataset", help="the benchmark's dataset (nb201: cifar10, cifar100, imagenet16-120; default cifar10)")
    q.add_argument("--benchmark", metavar="PATH",
                   help="a benchmark file instead of the embedded table (nb201: a table in NASLib's format (.json), "
                        "NAS-Bench-201's .pth or NATS-Bench's topology file; the last two need `pip install unnas[nb201]`)")
    q.add_argument("--metric", help="which accuracy (nb201 table: val_accuracy; official files: test or valid)")
    q.add_argument("--json", action="store_true", help="one JSON object per architecture")
    q.set_defaults(func=bench_query)
    return parser


LIGHTNING_COMMANDS = ("fit", "validate", "test")


def _user_errors() -> tuple:
    from unnas.data.sources import DataError
    from unnas.modules.common import NonFiniteLossError

    from unnas.errors import ConfigError
    from unnas.spaces.base import ArchError

    return (ArchError, ConfigError, UsageError, DataError, NonFiniteLossError)


def run_lightning(argv: List[str]) -> int:
    """``unnas fit|validate|test ...``: LightningCLI; known user errors become one line and exit status 2."""
    from unnas.lightning_cli import run

    try:
        run(argv)
    except Exception as e:  # noqa: BLE001 - only known user errors are turned into one line; others re-raise
        cause = _find_user_error(e)
        if cause is None:
            raise
        print(f"unnas: error: {cause}", file=sys.stderr)
        return 2
    return 0


def _find_user_error(exc: BaseException) -> Optional[BaseException]:
    """The user error behind *exc*: jsonargparse wraps errors raised while instantiating classes."""
    kinds = _user_errors()
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kinds):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def main(argv: Optional[List[str]] = None, out: TextIO = None, stdin: TextIO = None) -> int:
    """Entry point of the ``unnas`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_COMMANDS:
        return run_lightning(argv)
    out = out or sys.stdout
    stdin = stdin or sys.stdin
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args, out, stdin)
    except (ArchError, ConfigError, UsageError, _study_errors()) as e:
        print(f"unnas: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `unnas arch sample --n 500 | head`
        return 0
    return status or 0


def console_main() -> None:
    sys.exit(main())
