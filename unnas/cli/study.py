"""``unnas study init | add | work | status | run | sweep | report``: the sample-based study."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, TextIO, Tuple

from unnas.cli import scale
from unnas.cli.common import UsageError, _positive
from unnas.spaces.base import space_class, space_names


# A ranker whose score a benchmark table holds under another name: ranker name -> the table's field. NASLib's
# NAS-Bench tables call the multiply-adds of one image "flops" (in millions; ranks are what the report compares).
TABLE_FIELD_ALIASES: Dict[str, str] = {"macs": "flops"}


def _ints(text: str, flag: str) -> List[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"{flag} takes comma-separated integers (e.g. {flag} 1,2,3), got {text!r}") from None


def _names(text: Optional[str]) -> List[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _tasks(args: argparse.Namespace) -> List[str]:
    """The study tasks named by ``--objectives`` (alias ``--tasks``) and ``--rankers``: objectives first."""
    return list(dict.fromkeys(_names(args.objectives) + _names(getattr(args, "rankers", None))))


def _add_top_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top", type=int, metavar="K",
                   help="--archs is the output of `unnas rank --json` (e.g. its --out file): take its K best "
                        "architectures (a study whose architectures come from a ranker)")
    p.add_argument("--by", metavar="RANKER", help="with --top: the score to rank by (default: the file's only one)")


def study_init(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from unnas.study.config import parse_overrides
    from unnas.study.create import default_tasks, init_study

    tasks = _tasks(args) or default_tasks()
    seeds = _ints(args.seeds, "--seeds")
    store = init_study(args.dir, archs=args.archs, tasks=tasks, seeds=seeds, config=args.config, data_root=args.data_root,
                       space=args.space, overrides=parse_overrides(args.set or []), top=args.top, by=args.by)
    counts = store.counts()
    total = sum(sum(c.values()) for c in counts.values())
    print(f"study in {args.dir}: {total} jobs ({args.archs} x {len(tasks)} objectives x {len(seeds)} seeds); "
          f"run them with `unnas study work {args.dir}`", file=out)


def study_add(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from unnas.study.create import add_to_study
    from unnas.study.store import Store

    tasks = _tasks(args)
    if not (args.archs or tasks or args.seeds):
        raise UsageError("study add needs --archs, --objectives, --rankers or --seeds (what to add)")
    store = Store.open(args.dir)
    n = add_to_study(store, archs=args.archs, tasks=tasks, seeds=_ints(args.seeds or "", "--seeds"), config=args.config,
                     top=args.top, by=args.by)
    total = sum(sum(c.values()) for c in store.counts().values())
    print(f"added {n} jobs to {args.dir} ({total} in all); run them with `unnas study work {args.dir}`", file=out)


def study_reset(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from unnas.study.store import Store

    tasks = _tasks(args)
    if not tasks:
        raise UsageError("study reset needs --objectives or --rankers (the tasks whose jobs to run again)")
    n = Store.open(args.dir).reset(tasks, _ints(args.seeds or "", "--seeds"))
    print(f"reset {n} jobs of {', '.join(tasks)} in {args.dir}; run them again with `unnas study work {args.dir}`",
          file=out)


def _check_work_args(args: argparse.Namespace) -> None:
    from unnas.study.worker import check_lease

    for flag in ("workers", "max_jobs", "threads"):
        _positive(getattr(args, flag, None), "--" + flag.replace("_", "-"))
    check_lease(args.lease)


def study_work(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    from unnas.study.store import Store
    from unnas.study.worker import Interrupted, default_layout, spawn_workers, work

    _check_work_args(args)
    store = Store.open(args.dir)
    if args.retry_failed:
        print(f"re-queued {store.retry_failed()} failed jobs", file=out)
    log = lambda m: print(m, file=out, flush=True)  # noqa: E731
    workers, threads = default_layout(args.workers, args.threads)
    if args.workers is None:
        log(f"{workers} worker(s) x {threads} torch thread(s) (the default here; set --workers and --threads to change it)")
    if workers > 1:
        return spawn_workers(args.dir, workers, args.max_jobs, args.lease, threads, log=log)
    try:
        summary = work(store, max_jobs=args.max_jobs, lease_s=args.lease, log=log, threads=threads)
    except Interrupted as e:
        print(f"unnas: interrupted by {e}; the job in hand went back to the queue", file=sys.stderr)
        return e.exit_status
    failed = f"; {summary.failed} failed (`unnas study status {args.dir}` lists them)" if summary.failed else ""
    print(f"this worker recorded {summary.recorded} jobs{failed}", file=out)
    return 1 if summary.failed or summary.lost else 0


def study_run(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    """One named job (what a W&B sweep agent runs); logs its result to W&B too when W&B is on."""
    from unnas.study.store import Store, StudyError
    from unnas.study.worker import Interrupted, work

    _check_work_args(args)
    store = Store.open(args.dir)
    job_id = store.find(args.arch, args.objective, args.seed)
    if job_id is None:
        raise StudyError(f"{args.dir} has no job for arch {args.arch}, objective {args.objective}, seed {args.seed}; "
                         f"`unnas study status {args.dir}` lists its objectives")
    records: list = []

    def run_and_log(directory, job, renew=None, log=None):
        from unnas.study import worker  # its train_job: the one a test replaces

        extra = {"log": log} if log is not None and worker._takes(worker.train_job, "log") else {}
        result = worker.train_job(directory, job, renew=renew, **extra)
        records.append(result)
        return result

    try:
        summary = work(store, lease_s=args.lease, run_job=run_and_log, log=lambda m: print(m, file=out, flush=True),
                       job_id=job_id, threads=args.threads)
    except Interrupted as e:
        print(f"unnas: interrupted by {e}; job {job_id} went back to the queue", file=sys.stderr)
        return e.exit_status
    if summary.ran == 0:
        state = store.counts().get(args.objective, {})
        print(f"job {job_id} was not run: it is done or held by another worker ({args.objective} jobs: {state})",
              file=out)
        return 0
    if records and summary.recorded and os.environ.get("WANDB_MODE", "offline") != "disabled":
        _log_run_to_wandb(args, store.space(), records[0])
    return 0 if summary.recorded else 1


def _log_run_to_wandb(args: argparse.Namespace, space: str, result: dict) -> None:
    """One W&B run per job, under ``DIR/wandb``, named ``<objective>-<arch>-seed<seed>``, grouped by objective
    (its config keeps the record key ``task``)."""
    import wandb

    task = args.objective
    run = wandb.init(project=args.wandb_project, dir=os.path.abspath(args.dir),
                     name=f"{task}-{args.arch}-seed{args.seed}", group=task,
                     tags=[space, task, args.arch, f"seed{args.seed}"],
                     config={"space": space, "arch": args.arch, "task": task, "seed": args.seed}, reinit=True)
    run.log({k: v for k, v in result.items() if isinstance(v, (int, float))})
    run.summary.update({"best_acc": result["best_acc"]})
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


MIN_N_BOOT = 1  # the fewest bootstrap resamples `study report --n-boot` takes: 0 or fewer leave no interval


def study_report(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from unnas.study.report import build_report
    from unnas.study.report.files import read_reference

    if args.n_boot < MIN_N_BOOT:
        raise UsageError(f"--n-boot must be at least {MIN_N_BOOT} (the bootstrap resamples behind the report's 95% "
                         f"intervals; 1000 by default, 100 or more for intervals worth reading), got {args.n_boot}")
    reference = read_reference(args.reference) if args.reference else None  # before reading W&B or the store
    if args.wandb:
        records = scale.records_from_wandb(args.wandb, log=lambda m: print(m, file=out))
    else:
        from unnas.study.store import Store

        records = Store.open(args.dir).results()
    if not records:
        raise UsageError("no finished jobs to report yet; see `unnas study status`")
    extra: Dict[str, Any] = {}
    truth, archs = (None, None) if args.wandb else _study_truth(args)
    if truth is not None:
        extra["ground_truth"] = {a: truth.query(x) for a, x in archs.items()}
        extra["ground_truth_name"] = _truth_name(truth)
        rankers = _ranker_names(records)
        if rankers and (hasattr(truth, "record") or hasattr(truth, "records")):
            extra["table_scores"] = table_scores_from_truth(truth, archs, rankers)
            extra["table_scores_name"] = "benchmark"
    if not args.wandb:
        from unnas.study.result_files import with_epoch_lists

        records = with_epoch_lists(records, args.dir)  # older records: per-epoch lists from their run folders
    result = build_report(records, args.out, reference=reference, title=args.title, n_boot=args.n_boot, **extra)
    if args.log_wandb or os.environ.get("WANDB_MODE") == "online":
        import wandb

        from unnas.study.report import log_report_to_wandb

        run = wandb.init(project=args.wandb_project, job_type="report")
        log_report_to_wandb(result, run)
        run.finish()
    print(f"wrote {os.path.join(args.out, 'report.md')}, report.html and correlations.json", file=out)


# ------------------------------------------------------------------------------------ a study as a search
def _check_predictor_args(args: argparse.Namespace) -> None:
    for flag in ("n", "per_round", "rounds", "ensemble", "steps", "holdout_folds"):
        _positive(getattr(args, flag, None), "--" + flag.replace("_", "-"))
    if not math.isfinite(args.kappa) or args.kappa < 0:
        raise UsageError(f"--kappa must be a finite number >= 0 (0: predicted mean; > 0: mean + kappa * std), "
                         f"got {args.kappa}")


def _print_proposals(found: Mapping[str, Any], objective: str, pool: str, fmt: str, out: TextIO) -> None:
    held = found.get("heldout")
    rho = "" if not held else (f"; held-out rho {held['rho']:.3f} ({held['folds']}-fold over {held['n']})"
                               if held["rho"] is not None else "; held-out rho not computable")
    print(f"surrogate fitted to {found['n_train']} {objective} architectures{rho}; {len(found['proposals'])} of "
          f"{found['pool_left']} {pool} architectures not in the study, predicted {objective} mean ± std:", file=out)
    for p in found["proposals"]:
        print(f"  {p['id']:<24} {p['mean']:{fmt}} ± {p['std']:{fmt}}", file=out)


def study_propose(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    """Fit the surrogate to the finished jobs of one objective and add its best-predicted pool architectures."""
    from unnas.study.create import add_to_study
    from unnas.study.smbo import fit_and_propose, score_format, write_proposals
    from unnas.study.store import Store

    _check_predictor_args(args)
    store = Store.open(args.dir)
    found = fit_and_propose(store, args.objective, args.n, args.pool, kappa=args.kappa, seed=args.seed,
                            ensemble=args.ensemble, steps=args.steps)
    _print_proposals(found, args.objective, args.pool, score_format(store, args.objective), out)
    path = write_proposals(args.dir, args.objective, found["proposals"])
    added = add_to_study(store, archs=path)
    print(f"added {added} jobs to {args.dir} from {path}; run them with `unnas study work {args.dir}`", file=out)


def study_search(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    """A study run as a search (:func:`unnas.study.smbo.run_search`): rounds of propose then work, recorded in
    ``DIR/search_rounds.json``; a finished round is not run again."""
    from unnas.study.smbo import SEARCH_FILE, SEARCH_SETTINGS, run_search
    from unnas.study.worker import Interrupted, default_threads

    _check_predictor_args(args)
    _check_work_args(args)
    try:
        failed = run_search(args.dir, {k: getattr(args, k) for k in SEARCH_SETTINGS}, args.rounds,
                            holdout_folds=args.holdout_folds, lease_s=args.lease,
                            threads=args.threads or default_threads(1),
                            log=lambda m: print(m, file=out, flush=True),
                            on_proposals=lambda r, found, fmt: _print_proposals(found, args.objective, args.pool,
                                                                               fmt, out))
    except Interrupted as e:
        print(f"unnas: interrupted by {e}; the job in hand went back to the queue and `unnas study search` "
              f"resumes this round", file=sys.stderr)
        return e.exit_status
    print(f"{args.rounds} rounds recorded in {os.path.join(args.dir, SEARCH_FILE)}"
          + (f"; {failed} jobs failed (`unnas study status {args.dir}` lists them)" if failed else ""), file=out)
    return 1 if failed else 0


def _study_truth(args: argparse.Namespace) -> Tuple[Any, Optional[Dict[str, Any]]]:
    """``(ground truth, {arch id: loaded arch})`` of a study whose space has ground truth, else ``(None, None)``."""
    from unnas.study.store import Store

    if args.no_ground_truth:
        return None, None
    store = Store.open(args.dir)
    space = space_class(store.space())()
    truth = space.ground_truth(args.gt_dataset, path=args.benchmark)
    if truth is None:
        return None, None
    return truth, {arch: space.load(text) for arch, text in store.archs()}


def _truth_name(truth: Any) -> str:
    dataset = getattr(truth, "dataset", None)
    return f"true {dataset}" if dataset else "true"  # the report labels its axis "<name> accuracy (%)"


def _ranker_names(records: Sequence[Mapping[str, Any]]) -> Dict[str, List[str]]:
    """Ranker task -> the names its table field may go by: the task's own, then its records' ranker names."""
    out: Dict[str, List[str]] = {}
    for r in records:
        if r.get("ranker") is not None:
            names = out.setdefault(str(r["task"]), [str(r["task"])])
            if str(r["ranker"]) not in names:
                names.append(str(r["ranker"]))
    return out


def _table_rows(truth: Any, arch: Any) -> Optional[List[Mapping[str, Any]]]:
    """The benchmark rows of *arch* (``truth.record``, or NAS-Bench-101's several ``truth.records``); None when
    the ground truth has no rows to read."""
    if hasattr(truth, "record"):
        rec = truth.record(arch)
        return [rec] if rec else []
    if hasattr(truth, "records"):
        return list(truth.records(arch))
    return None


def _numeric(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def table_scores_from_truth(truth: Any, archs: Mapping[str, Any],
                            rankers: Mapping[str, Sequence[str]]) -> Dict[str, Dict[str, float]]:
    """Task -> {arch id -> the benchmark's own score} for each ranker task whose name (one of ``rankers[task]``,
    or its :data:`TABLE_FIELD_ALIASES` entry) is a numeric field of the rows of ``truth``; the mean over an arch's
    rows. Tasks the table has no field for are left out."""
    rows = {a: _table_rows(truth, x) or [] for a, x in archs.items()}
    fields = {k for rs in rows.values() for r in rs for k, v in r.items() if _numeric(v) is not None}
    out: Dict[str, Dict[str, float]] = {}
    for task, names in rankers.items():
        field = next((f for n in names for f in (n, TABLE_FIELD_ALIASES.get(n)) if f in fields), None)
        if field is None:
            continue
        scores = {}
        for a, rs in rows.items():
            vals = [v for v in (_numeric(r.get(field)) for r in rs) if v is not None]
            if vals:
                scores[a] = sum(vals) / len(vals)
        out[task] = scores
    return out


def _registry_help() -> Dict[str, str]:
    """Help texts read from the registries of objectives, rankers and spaces (nothing named here by hand)."""
    from pretext_tasks.registry import default_objectives, objective_names

    from unnas.rankers import RANKERS

    configs = "; ".join(f"{n}: {space_class(n).default_study_config}" for n in space_names()
                        if space_class(n).default_study_config)
    return {"objectives": ", ".join(objective_names()), "default_objectives": ",".join(default_objectives()),
            "rankers": ", ".join(RANKERS), "configs": configs,
            "datasets": "; ".join(f"{n}: {', '.join(space_class(n).datasets)}" for n in space_names())}


def _add_task_args(p: argparse.ArgumentParser, what: str, default: str = "", required: bool = False,
                   ranker_what: Optional[str] = None) -> None:
    """``--objectives`` (alias ``--tasks``) and ``--rankers``: the study's tasks, *what* they are for."""
    h = _registry_help()
    p.add_argument("--objectives", "--tasks", dest="objectives", required=required, metavar="OBJECTIVES",
                   help=f"comma-separated objectives {what} (registered: {h['objectives']}; any name the study "
                        f"config maps to a recipe){default}; --tasks is the older name")
    p.add_argument("--rankers", help=f"comma-separated training-free rankers {ranker_what or what} ({h['rankers']}; "
                                     f"docs/study.md)")


def add_parser(sub) -> None:
    from unnas.study.archs import arch_sets_help
    from unnas.study.worker import DEFAULT_LEASE_S, MAX_LEASE_S, MIN_LEASE_S, RENEWALS_PER_LEASE

    h = _registry_help()
    lease_help = (f"seconds a claimed job stays reserved without a renewal (renewed every lease/{RENEWALS_PER_LEASE}; "
                  f"{MIN_LEASE_S:g} to {MAX_LEASE_S:g} s, i.e. 7 days; default: %(default)s)")
    study = sub.add_parser("study", help="the sample-based study (its commands: below)")
    ssub = study.add_subparsers(dest="study_command", required=True, metavar="STUDY_COMMAND")
    init = ssub.add_parser("init", help="create the jobs (architecture x objective x seed) in DIR")
    init.add_argument("dir")
    from unnas.study.create import DEFAULT_ARCHS

    init.add_argument("--archs", default=DEFAULT_ARCHS,
                      help=f"a space's set ({arch_sets_help()}); or a file of architectures (default: %(default)s)")
    init.add_argument("--space", choices=space_names(), help="the search space (default: recognised from --archs)")
    _add_task_args(init, "to train", f" (default, without --rankers: {h['default_objectives']})", ranker_what="to score")
    init.add_argument("--seeds", default="1", help="comma-separated seeds (the paper: 1,2,3 on CIFAR-10)")
    init.add_argument("--config",
                      help=f"study config: objective -> recipe (a base training config, then the objective's overlay; "
                           f"merged as `unnas fit -c base -c overlay`). Default: the space's CPU study ({h['configs']}); "
                           f"docs/study.md lists the paper's")
    init.add_argument("--data-root", help="replace the data root of every training config (an existing folder)")
    init.add_argument("--set", action="append", metavar="KEY=VALUE",
                      help="set a value in every frozen training config (not a ranker's), e.g. --set trainer.max_epochs=2 (dotted key; "
                           "value read as YAML; repeatable)")
    _add_top_args(init)
    init.set_defaults(func=study_init)

    add = ssub.add_parser("add", help="grow a study: more architectures, objectives or seeds (only missing jobs are made)")
    add.add_argument("dir")
    add.add_argument("--archs", help="a set or file of architectures, as for init (ids already in the study are kept)")
    _add_task_args(add, "to add")
    add.add_argument("--seeds", help="comma-separated seeds to add")
    add.add_argument("--config", help="study config for the new objectives (default: the one given at init)")
    _add_top_args(add)
    add.set_defaults(func=study_add)

    rs = ssub.add_parser("reset", help="run an objective's or ranker's finished and failed jobs again (their results "
                                       "are discarded), e.g. after a fix to it")
    rs.add_argument("dir")
    _add_task_args(rs, "whose jobs to run again")
    rs.add_argument("--seeds", help="comma-separated seeds (default: every seed)")
    rs.set_defaults(func=study_reset)

    wk = ssub.add_parser("work", help="claim and train jobs until none is left")
    wk.add_argument("dir")
    wk.add_argument("--workers", type=int,
                    help="worker processes on this machine (default: one single-thread worker per core, at most "
                         "8, on a machine without a GPU; one worker with a GPU or with --threads alone)")
    wk.add_argument("--max-jobs", type=int, help="stop after this many jobs (per worker)")
    wk.add_argument("--lease", type=float, default=DEFAULT_LEASE_S, help=lease_help)
    wk.add_argument("--threads", type=int,
                    help="torch threads per worker (default: cores / workers); recorded with every result")
    wk.add_argument("--retry-failed", action="store_true", help="re-queue failed jobs first")
    wk.set_defaults(func=study_work)

    st = ssub.add_parser("status", help="what is done, running, failed and left")
    st.add_argument("dir")
    st.set_defaults(func=study_status)

    rn = ssub.add_parser("run", help="run one job (used by W&B sweep agents)")
    rn.add_argument("dir")
    rn.add_argument("--arch", required=True)
    rn.add_argument("--objective", "--task", dest="objective", required=True,
                    help="the job's objective or ranker (--task is the older name; W&B sweep files pass it)")
    rn.add_argument("--seed", type=int, required=True)
    rn.add_argument("--lease", type=float, default=DEFAULT_LEASE_S, help=lease_help)
    rn.add_argument("--threads", type=int, help="torch threads (default: torch's); recorded with the result")
    rn.add_argument("--wandb-project", default="unnas-study")
    rn.set_defaults(func=study_run)

    scale.add_parsers(ssub)

    def predictor_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("dir")
        p.add_argument("--objective", default=h["default_objectives"].split(",")[0],
                       help="the objective whose finished jobs the surrogate is fitted to (default: %(default)s)")
        p.add_argument("--pool", required=True,
                       help=f"the candidates: any architecture set of the study's space (as --archs of init: "
                            f"{arch_sets_help()}) or a file")
        p.add_argument("--kappa", type=float, default=0.0,
                       help="rank candidates by predicted mean + kappa * ensemble std (default 0: the mean)")
        p.add_argument("--seed", type=int, default=0, help="seed of the surrogate's initialisation and folds")
        p.add_argument("--ensemble", type=int, default=5,
                       help="MLPs in the surrogate's ensemble (default: %(default)s)")
        p.add_argument("--steps", type=int, default=300, help="full-batch Adam steps per fit (default: %(default)s)")

    pr = ssub.add_parser("propose", help="fit a surrogate to the finished jobs and add the pool architectures it "
                                         "predicts best (for every objective)")
    predictor_args(pr)
    pr.add_argument("--n", type=int, default=8, help="architectures to add (default: %(default)s)")
    pr.set_defaults(func=study_propose)

    se = ssub.add_parser("search", help="a study run as a search: rounds of propose, then work (resumable; "
                                        "DIR/search_rounds.json)")
    predictor_args(se)
    se.add_argument("--rounds", type=int, required=True, help="rounds in all (finished rounds are not run again)")
    se.add_argument("--per-round", type=int, default=8, help="architectures proposed per round (default: %(default)s)")
    se.add_argument("--holdout-folds", type=int, default=5,
                    help="folds of the held-out rho recorded per round (default: %(default)s)")
    se.add_argument("--lease", type=float, default=DEFAULT_LEASE_S, help=lease_help)
    se.add_argument("--threads", type=int, help="torch threads of the worker (default: the usable cores)")
    se.set_defaults(func=study_search)

    rp = ssub.add_parser("report", help="rank correlations, plots and tables of the finished jobs")
    rp.add_argument("dir", nargs="?", help="the study folder (not needed with --wandb)")
    rp.add_argument("--out", required=True, help="output folder")
    rp.add_argument("--wandb", metavar="ENTITY/PROJECT/SWEEP[,SWEEP2...]",
                    help="read the results from W&B sweeps instead (every run, paged)")
    rp.add_argument("--reference", help="JSON {arch: accuracy} of a target setting (e.g. ImageNet) for the best-of-m curve")
    rp.add_argument("--title", default="unnas sample-based study")
    rp.add_argument("--gt-dataset", help=f"dataset of the space's ground truth, for a space with one (the spaces' "
                                         f"datasets: {h['datasets']}; default: the space's first)")
    rp.add_argument("--benchmark", metavar="PATH", help="ground-truth file instead of the space's embedded table")
    rp.add_argument("--no-ground-truth", action="store_true", help="leave the ground-truth comparison out")
    rp.add_argument("--n-boot", type=int, default=1000,
                    help=f"bootstrap resamples for the 95%% intervals (at least {MIN_N_BOOT}; 100 or more for "
                         f"intervals worth reading; default: %(default)s)")
    rp.add_argument("--log-wandb", action="store_true",
                    help="also log the tables and plots to W&B (automatic when WANDB_MODE=online)")
    rp.add_argument("--wandb-project", default="unnas-study")
    rp.set_defaults(func=study_report)

