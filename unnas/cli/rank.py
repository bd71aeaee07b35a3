"""``unnas rank``: training-free scores (zero-cost proxies) of genotypes, one JSON line per genotype."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import TextIO

from unnas.cli.common import DATASETS, SPACE_HELP, UsageError, _archs, _positive, check_archs, space_for_dataset
from unnas.spaces.base import space_names

OBJECTIVES = ("labels", "rotation")


def _json_number(value: float):
    return value if math.isfinite(value) else None


def rank(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    import torch

    from unnas.rankers import LossRanker, gaussian_batch, ranker_class

    torch.set_num_threads(max(1, args.threads))
    for value, flag in ((args.channels, "--channels"), (args.layers, "--layers"), (args.batch, "--batch"),
                        (args.threads, "--threads")):
        _positive(value, flag)
    names = [n.strip() for n in args.rankers.split(",") if n.strip()]
    if not names:
        raise UsageError("--rankers is empty; give a comma-separated list such as synflow,naswot,params")
    if "jacov" in names and args.batch < 2:
        raise UsageError(f"jacov correlates the Jacobians of a batch: --batch must be at least 2, got {args.batch}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available; use --device cpu")
    objective = None
    if args.objective == "rotation":
        import pretext_tasks

        objective = pretext_tasks.Rotation()
    rankers = []
    for name in names:
        cls = ranker_class(name)
        rankers.append(cls(objective=objective, seed=args.seed) if issubclass(cls, LossRanker) else cls(seed=args.seed))
    check_archs(args, args.genotypes)
    device = torch.device(args.device)
    settings: dict = {}

    def setting(cls):
        if cls.name not in settings:
            _, spec, space = space_for_dataset(cls, args)
            batch = gaussian_batch((3, spec.image_size, spec.image_size), args.batch, spec.num_classes, args.seed)
            settings[cls.name] = (space, spec.num_classes, batch.to(device))
        return settings[cls.name]

    n = 0
    start = time.time()
    for label, cls, arch in _archs(args, args.genotypes, stdin):
        space, classes, batch = setting(cls)
        torch.manual_seed(args.seed)
        head = objective.head if objective is not None else None
        net = space.network(arch, head=head, num_classes=classes).to(device)
        row = {"genotype": label}
        for ranker in rankers:
            row[ranker.name] = _json_number(ranker.score(net, batch))
        n += 1
        print(json.dumps(row) if args.json else "\t".join(str(v) for v in row.values()), file=out, flush=True)
        print(f"rank: {n} scored ({label}, {time.time() - start:.1f}s)", file=sys.stderr, flush=True)
    if not n:
        raise UsageError("no genotypes given (stdin was empty)")


def add_parser(sub) -> None:
    from unnas.rankers import ranker_names

    p = sub.add_parser("rank", help="training-free scores (zero-cost proxies) of genotypes")
    p.add_argument("genotypes", nargs="+", metavar="GENOTYPE",
                   help="registered name, the space's notation, JSON, a .json file, or - to read one per line from stdin")
    p.add_argument("--space", choices=space_names(), help=SPACE_HELP)
    p.add_argument("--rankers", default="synflow,naswot,params",
                   help=f"comma-separated rankers (default synflow,naswot,params); known: {', '.join(ranker_names())}")
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="network family, classes and input size (default: the space's first: cifar10)")
    p.add_argument("--channels", type=int, help="initial channels C (default: the space's, as in `unnas arch info`)")
    p.add_argument("--layers", type=int, help="depth (default: the space's, as in `unnas arch info`)")
    p.add_argument("--objective", choices=OBJECTIVES, default="labels",
                   help="loss of grad_norm, snip, grasp, fisher: cross-entropy on the batch's labels (default), or "
                        "rotation prediction (label-free; the networks then carry the rotation head)")
    p.add_argument("--batch", type=int, default=64, help="batch size of the seeded Gaussian batch (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seeds the batch, each network's initialisation and the rankers")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", action="store_true", help="one JSON object per genotype per line (else tab-separated)")
    p.set_defaults(func=rank)
