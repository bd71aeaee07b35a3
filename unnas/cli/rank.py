"""``unnas rank``: training-free scores (zero-cost proxies) of architectures of any space, one line each.

The batch is the seeded Gaussian batch, or with ``--data`` a seeded batch of real images of an ImageFolder tree;
the loss of the loss-based rankers is cross-entropy on the batch's labels or any pretext objective's loss.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import List, NamedTuple, Optional, TextIO

from unnas.cli.common import (UsageError, _archs, _positive, all_datasets, arch_set_of, check_archs, make_objective,
                              objective_help, space_for_dataset, space_help)
from unnas.spaces.base import space_names

#: ``--objective`` value for cross-entropy on the batch's labels (no pretext task)
LABELS = "labels"


def _json_number(value: float):
    return value if math.isfinite(value) else None


def objective_class(spec: str) -> Optional[type]:
    """The objective class of ``--objective`` *spec* (a registered objective's name or a PretextTask class path,
    :func:`pretext_tasks.objective_class`); ``None`` for ``labels``. Anything else is one line naming the known
    objectives."""
    from pretext_tasks import ObjectiveError
    from pretext_tasks import objective_class as registered

    if spec == LABELS:
        return None
    try:
        return registered(spec)
    except ObjectiveError as e:
        raise UsageError(f"--objective: {e} (or {LABELS}: cross-entropy on the batch's labels)") from None


def image_source(path: str, image_size: Optional[int] = None):
    """The ImageFolder source of ``--data`` *path*: a folder with ``train/<class>/`` inside, or itself a folder of
    class folders (the classes are its sub-folders, sorted by name); *image_size* as :class:`unnas.data.ImageFolder`."""
    from unnas.data import ImageFolder

    if not os.path.isdir(path):
        what = "is not a folder" if os.path.exists(path) else "does not exist"
        raise UsageError(f"--data {path} {what}; pass an ImageFolder root (one sub-folder of images per class) or a "
                         f"folder with train/ inside")
    if os.path.isdir(os.path.join(path, "train")):
        return ImageFolder(path, train_dir="train", image_size=image_size)
    path = os.path.abspath(path)
    return ImageFolder(os.path.dirname(path), train_dir=os.path.basename(path), image_size=image_size)


class Batches(NamedTuple):
    """The two views of one seeded batch: ``loss`` for the loss-based rankers (which run the objective's ``prepare``
    themselves) and ``net`` (the network's inputs) for the others."""

    loss: object
    net: object


def rank_batches(objective, spec, batch_size: int, seed: int, classes: int, data: Optional[str] = None) -> Batches:
    """The seeded batch of one space's networks (dataset *spec*: image size and style).

    Without *data*: ``gaussian_batch`` of the shape the objective's held-out sample transform gives (``3 x S x S``
    for CIFAR style) with labels in ``[0, classes)``. With *data* (a ``--data`` folder): ``image_batch`` of its
    training split under the objective's (``labels``: the supervised) held-out sample transform, CIFAR style after
    a resize and centre crop to the space's input size. With the ``labels`` objective the network sees the batch
    itself (real images normalised as the supervised objective does); with a pretext objective it sees that
    objective's ``prepare(train=False)`` inputs of the batch, drawn with its evaluation generator.
    """
    import pretext_tasks
    from PIL import Image

    from unnas.data import DataError
    from unnas.rankers import RankBatch, gaussian_batch, image_batch

    if objective is None and data is not None and classes < 2:
        raise UsageError(f"--data {data} has {classes} class; --objective {LABELS} needs at least 2 classes, or use "
                         f"a label-free objective such as rotation")
    reference = objective if objective is not None else pretext_tasks.Supervised(max(classes, 2), style=spec.style)
    transform = reference.sample_transform(False)
    if data is None:
        shape = tuple(transform(Image.new("RGB", (spec.image_size, spec.image_size))).shape)
        raw = gaussian_batch(shape, batch_size, classes, seed)
    else:
        try:
            dataset = image_source(data, spec.image_size if spec.style == "cifar" else None).dataset("train", transform)
            if len(dataset) < batch_size:
                raise UsageError(f"--batch {batch_size} is larger than the {len(dataset)} images of {data}; lower "
                                 f"--batch or add images")
            raw = image_batch(dataset, batch_size, seed)
        except DataError as e:
            raise UsageError(f"--data {data}: {e}") from None
    prep = reference if objective is not None or data is not None else None
    if prep is None:
        return Batches(raw, raw)
    try:
        inputs, targets = prep.prepare(raw.images, raw.labels, train=False, generator=prep.eval_generator())
    except ValueError as e:
        where = f"the images of --data {data}" if data is not None else "the seeded Gaussian batch"
        fix = "" if data is not None else "; give it real images with --data DIR"
        raise UsageError(f"--objective {prep.name} cannot prepare {where} ({e}){fix}") from None
    if not bool(inputs.isfinite().all()):
        raise UsageError(f"--objective {prep.name} makes non-finite inputs of "
                         f"{'--data ' + data if data is not None else 'the seeded Gaussian batch; use --data DIR'}")
    net = RankBatch(inputs, targets)
    return Batches(raw if objective is not None else net, net)


class _Progress:
    """Progress on stderr: a tqdm bar when stderr is a terminal and tqdm is installed, else one line per architecture."""

    def __init__(self, total: Optional[int], out: TextIO):
        self.total, self.out, self.n, self.start = total, out, 0, time.time()
        self.n_before = 0  # lines already in a resumed --out file (its header included)
        self.bar = None
        self.tqdm = None
        if getattr(sys.stderr, "isatty", lambda: False)():
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm is optional: fall back to the per-line progress
                tqdm = None
            self.tqdm = tqdm

    def emit(self, line: str, label: str, header: Optional[str] = None) -> None:
        """Print the result *line* to the output (after *header*, given, before the first line) and advance the
        progress by one architecture (*label*)."""
        if header is not None and self.n == 0 and not self.n_before:
            print(header, file=self.out, flush=True)
        self.n += 1
        if self.tqdm is None:
            print(line, file=self.out, flush=True)
            took = time.time() - self.start
            eta = "" if not self.total else f", ETA {took / self.n * (self.total - self.n) / 60:.1f} min"
            print(f"rank: {self.n}{'/' + str(self.total) if self.total else ''} scored ({label}, {took:.1f}s{eta})",
                  file=sys.stderr, flush=True)
            return
        if self.bar is None:
            self.bar = self.tqdm(total=self.total, desc="rank", unit="arch", file=sys.stderr, dynamic_ncols=True)
        self.tqdm.write(line, file=self.out)
        self.out.flush()
        self.bar.set_postfix_str(label, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def rank(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    import torch

    from unnas.rankers import ranker_class

    args.workers = getattr(args, "workers", 1)
    torch.set_num_threads(max(1, args.threads))
    for value, flag in ((args.channels, "--channels"), (args.layers, "--layers"), (args.batch, "--batch"),
                        (args.threads, "--threads"), (args.workers, "--workers")):
        _positive(value, flag)
    names = [n.strip() for n in args.rankers.split(",") if n.strip()]
    if not names:
        raise UsageError("--rankers is empty; give a comma-separated list such as synflow,naswot,params")
    if "jacov" in names and args.batch < 2:
        raise UsageError(f"jacov correlates the Jacobians of a batch: --batch must be at least 2, got {args.batch}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available; use --device cpu")
    objective_class(args.objective)  # unknown objectives and rankers fail here, before any output
    for name in names:
        ranker_class(name)
    check_archs(args, args.archs)
    data_classes: Optional[int] = None
    if args.data is not None:
        from unnas.data import DataError

        try:
            data_classes = image_source(args.data).num_classes
        except DataError as e:
            raise UsageError(f"--data {args.data}: {e}") from None
    total = None if "-" in args.archs else sum(len(arch_set_of(args, a) or [a]) for a in args.archs)
    recorded: set = set()
    out_file = None
    if getattr(args, "out", None):
        recorded = _recorded(args.out, args.json, ["genotype", *names])
        out_file = open(args.out, "a", encoding="utf-8")
        out = out_file
        if recorded:
            print(f"rank: {len(recorded)} architectures already in {args.out}; scoring the rest", file=sys.stderr)
            total = None if total is None else max(0, total - len(recorded))
    progress = _Progress(total, out)
    if recorded:
        progress.n_before = len(recorded)
    items = (item for item in _archs(args, args.archs, stdin) if item[0] not in recorded)
    try:
        if args.workers == 1:
            scorer = _Scorer(args, data_classes)
            for label, row in map(scorer, items):
                progress.emit(_line(row, args.json), label, _header(row, args.json))
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # spawn: a forked child would inherit the parent's torch thread pools
            pool = ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"), initializer=_start_worker,
                                       initargs=({k: v for k, v in vars(args).items() if k != "func"}, data_classes))
            try:
                for label, row in pool.map(_score_in_worker, items):
                    progress.emit(_line(row, args.json), label, _header(row, args.json))
            finally:  # on an error or an interrupt, the architectures not yet started are dropped
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        progress.close()
        if out_file is not None:
            out_file.close()
    if not progress.n and not recorded:
        raise UsageError("no architectures given (stdin was empty)")


def _recorded(path: str, as_json: bool, columns: List[str]) -> set:
    """The labels already in *path* (an earlier ``--out`` of the same command), after checking that it holds the
    same columns; a last line cut short (a run killed while writing) is dropped from the file."""
    import os

    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return set()
    with open(path, "rb+") as f:
        data = f.read()
        if not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
            data = data[:data.rfind(b"\n") + 1]
    lines = [line for line in data.decode("utf-8").splitlines() if line.strip()]
    if not lines:
        return set()
    try:
        if as_json:
            rows = [json.loads(line) for line in lines]
            found = list(rows[0])
            labels = {str(r["genotype"]) for r in rows}
        else:
            found = lines[0].split("\t")
            labels = {line.split("\t", 1)[0] for line in lines[1:]}
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"--out {path} is not the {'JSON' if as_json else 'tab-separated'} output of unnas rank; "
                         "give a new file") from None
    if found != columns:
        raise UsageError(f"--out {path} holds the columns {', '.join(found)}, not {', '.join(columns)}; resume with "
                         "the same --rankers (and --json) or give a new file")
    return labels


def _line(row: dict, as_json: bool) -> str:
    return json.dumps(row) if as_json else "\t".join(str(v) for v in row.values())


def _header(row: dict, as_json: bool) -> Optional[str]:
    """The column names above tab-separated lines (JSON lines name their fields themselves)."""
    return None if as_json else "\t".join(row)


class _Scorer:
    """Scores ``(label, space class, arch)`` items for the parsed ``unnas rank`` arguments: every network built after
    ``torch.manual_seed(seed)``, every ranker on the same seeded batch (one setting per space, made on first use)."""

    def __init__(self, args: argparse.Namespace, data_classes: Optional[int]):
        import torch

        from unnas.rankers import LossRanker, ranker_class

        self.args, self.data_classes, self.settings, self.checked = args, data_classes, {}, set()
        self.objective_cls = objective_class(args.objective)
        self.ranker_classes = [ranker_class(n.strip()) for n in args.rankers.split(",") if n.strip()]
        self.device = torch.device(args.device)
        self.loss_ranker = LossRanker

    def setting(self, cls):
        if cls.name not in self.settings:
            args = self.args
            _, spec, space = space_for_dataset(cls, args)
            classes = self.data_classes or spec.num_classes
            objective = make_objective(self.objective_cls, spec.style, classes) if self.objective_cls else None
            batches = rank_batches(objective, spec, args.batch, args.seed, classes, args.data)
            rankers: List = [c(objective=objective, seed=args.seed) if issubclass(c, self.loss_ranker)
                             else c(seed=args.seed) for c in self.ranker_classes]
            loss_batch, net_batch = batches.loss.to(self.device), batches.net.to(self.device)
            self.settings[cls.name] = (space, classes, objective, rankers, loss_batch, net_batch)
        return self.settings[cls.name]

    def network(self, space, arch, objective, classes, device=None):
        net = space.network(arch, head=objective.head if objective is not None else None, num_classes=classes,
                            input_channels=objective.input_channels if objective is not None else 3)
        return net if device is None else net.to(device)

    def calibrate(self, ranker, space, objective, classes, batch) -> None:
        """Score an aggregate ranker's reference sample (once per setting and process), with progress on stderr."""
        from unnas.rankers.aggregate import calibrate

        def progress(done: int, total: int) -> None:
            if done == 1 or done == total or done % 16 == 0:
                print(f"rank: {ranker.name} reference sample, {done}/{total} architectures of {space.name} scored",
                      file=sys.stderr, flush=True)

        calibrate(ranker, space, lambda arch: self.network(space, arch, objective, classes, self.device), batch,
                  build_key=(classes, getattr(objective, "name", None), str(self.device)), progress=progress)

    def __call__(self, item):
        import torch

        from unnas.spaces.complexity import check_fits, memory_error, out_of_memory

        label, cls, arch = item
        fix = "use smaller --channels / --layers / --batch"
        try:
            space, classes, objective, rankers, loss_batch, net_batch = self.setting(cls)

            def build():
                return self.network(space, arch, objective, classes)

            if cls.name not in self.checked:  # the shape settings and --batch decide the size: once per space
                shape = net_batch.images.shape
                check_fits(build, tuple(shape[1:]), int(shape[0]), gradients=True, fix=fix)
                self.checked.add(cls.name)
            for ranker in rankers:  # an aggregate's reference sample: once per setting
                self.calibrate(ranker, space, objective, classes,
                               loss_batch if isinstance(ranker, self.loss_ranker) else net_batch)
            torch.manual_seed(self.args.seed)
            net = build().to(self.device)
            row = {"genotype": label}
            for ranker in rankers:
                batch = loss_batch if isinstance(ranker, self.loss_ranker) else net_batch
                row[ranker.name] = _json_number(ranker.score(net, batch))
        except (RuntimeError, MemoryError) as e:
            if out_of_memory(e):
                raise memory_error(e, fix) from None
            raise
        return label, row


_WORKER: Optional[_Scorer] = None


def _start_worker(args: dict, data_classes: Optional[int]) -> None:
    import torch

    global _WORKER
    torch.set_num_threads(max(1, args["threads"]))
    _WORKER = _Scorer(argparse.Namespace(**args), data_classes)


def _score_in_worker(item):
    return _WORKER(item)


def add_parser(sub) -> None:
    from unnas.rankers import ranker_names

    p = sub.add_parser("rank", help="training-free scores (zero-cost proxies) of architectures")
    p.add_argument("archs", nargs="+", metavar="ARCH",
                   help="registered name, the space's notation, JSON, a .json file, a space's set (nb201-table, "
                        "nb201-sample:15625: all cells), or - to read one per line from stdin")
    p.add_argument("--space", choices=space_names(), help=space_help())
    p.add_argument("--rankers", default="synflow,naswot,params",
                   help=f"comma-separated rankers (default synflow,naswot,params); known: {', '.join(ranker_names())}")
    p.add_argument("--dataset", choices=all_datasets(), default=None,
                   help="network family, classes and input size (default: the space's first)")
    p.add_argument("--channels", type=int, help="initial channels C (default: the space's, as in `unnas arch info`)")
    p.add_argument("--layers", type=int, help="depth (default: the space's, as in `unnas arch info`)")
    p.add_argument("--data", metavar="DIR",
                   help="score on a seeded batch of real images: an ImageFolder root (one folder per class) or a "
                        "folder with train/ inside (its labels and classes are the data's); default: a seeded "
                        "Gaussian batch")
    p.add_argument("--objective", default=LABELS, metavar="OBJECTIVE",
                   help="loss of grad_norm, snip, grasp, fisher, zico, gradsign: labels (cross-entropy on the "
                        f"batch's labels, the default), a registered objective ({objective_help()}) or a PretextTask "
                        "class path (pretext_tasks.Jigsaw, mypkg.MyTask); the networks then carry its head and input "
                        "channels and every ranker sees its inputs")
    p.add_argument("--batch", type=int, default=64, help="images in the seeded batch (default 64)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the batch, each network's initialisation and the rankers")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1; per worker with --workers)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes that score architectures in parallel, each with --threads torch threads; the output "
                        "is the same and in the same order (default 1)")
    p.add_argument("--json", action="store_true", help="one JSON object per architecture per line (else tab-separated)")
    p.add_argument("--out", metavar="FILE",
                   help="append the lines to FILE instead of stdout and resume: architectures already in FILE (from "
                        "an earlier run with the same arguments) are not scored again")
    p.set_defaults(func=rank)
