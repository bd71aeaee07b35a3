"""``unnas bench query``: the known accuracies of a space's architectures."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from unnas.cli.common import UsageError, _archs, space_help
from unnas.spaces.base import detect_space, space_class, space_names


def bench_query(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    """True accuracies from a space's ground truth; a cell it does not hold gets one line naming the source, and the
    exit status is then 1."""
    cls = space_class(args.space) if args.space else None
    specs = list(args.archs)
    if cls is None:
        cls = detect_space(next((s for s in specs if s != "-"), ""))
    space = cls()
    truth = space.ground_truth(args.dataset, path=args.benchmark, metric=args.metric)
    if truth is None:
        with_truth = [n for n in space_names() if space_class(n)().ground_truth() is not None]
        raise UsageError(f"the {cls.name} space has no ground truth; spaces with one: {', '.join(with_truth)}")
    args.space = cls.name
    missing = n = 0
    for label, _, arch in _archs(args, specs, stdin):
        n += 1
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
    if not n:
        raise UsageError("no architectures given (stdin was empty)")
    return 1 if missing else 0


def add_parser(sub) -> None:
    bench = sub.add_parser("bench", help="ground truth: the known accuracies of a space's architectures")
    bsub = bench.add_subparsers(dest="bench_command", required=True, metavar="BENCH_COMMAND")
    q = bsub.add_parser("query", help="true accuracy (%%) of architectures from the space's benchmark")
    q.add_argument("archs", nargs="+", metavar="ARCH", help="architectures, or - to read one per line")
    q.add_argument("--space", choices=space_names(), help=space_help())
    per_space = "; ".join(f"{name}: {', '.join(space_class(name).datasets)}" for name in space_names())
    q.add_argument("--dataset", help=f"the benchmark's dataset, one of the space's (default: its first; {per_space})")
    q.add_argument("--benchmark", metavar="PATH",
                   help="a benchmark file instead of the embedded table, in a format the space's ground truth reads "
                        "(nb201: a table in NASLib's format (.json), NAS-Bench-201's .pth or NATS-Bench's topology "
                        "file; the last two need `pip install unnas[nb201]`)")
    q.add_argument("--metric", help="which accuracy (default: the ground truth's; nb201 table: val_accuracy; official "
                                    "files: test or valid)")
    q.add_argument("--json", action="store_true", help="one JSON object per architecture")
    q.set_defaults(func=bench_query)
