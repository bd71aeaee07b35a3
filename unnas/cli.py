"""The ``unnas`` command line.

``unnas fit | validate | test -c CONFIG`` runs a search or a training through LightningCLI
(:mod:`unnas.lightning_cli`); ``unnas arch ...`` inspects genotypes (info, draw, sample, list, show).
Errors in user input end the command with one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Iterable, List, Optional, Sequence, TextIO, Tuple

from unnas.space.genotype import (
    SAMPLED_PREFIX,
    Genotype,
    GenotypeError,
    describe,
    format_genotype,
    genotype_from_dict,
    load_genotype,
    registered_names,
)

DATASET_DEFAULTS = {
    # dataset: (channels, layers, num_classes, input size) as in DARTS's train.py / train_imagenet.py
    "cifar10": (36, 20, 10, 32),
    "cifar100": (36, 20, 100, 32),
    "imagenet": (48, 14, 1000, 224),
}


class UsageError(Exception):
    """Bad command-line input; reported as one line."""


def _read_stdin_genotypes(stream: TextIO) -> Iterable[Tuple[str, Genotype]]:
    for lineno, line in enumerate(stream, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            if text.startswith("{"):
                data = json.loads(text)
                label = str(data.get("id") or data.get("name") or f"stdin:{lineno}")
                yield label, genotype_from_dict(data.get("genotype", data))
            else:
                yield text if len(text) < 40 else f"stdin:{lineno}", load_genotype(text)
        except (GenotypeError, json.JSONDecodeError) as e:
            raise GenotypeError(f"stdin line {lineno}: {e}") from None


def _genotypes(specs: Sequence[str], stdin: TextIO) -> Iterable[Tuple[str, Genotype]]:
    for spec in specs:
        if spec == "-":
            yield from _read_stdin_genotypes(stdin)
        else:
            yield spec, load_genotype(spec)


def arch_info(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    import torch

    from unnas.space.complexity import count_macs, count_params
    from unnas.space.networks import NetworkCIFAR, NetworkImageNet

    torch.set_num_threads(max(1, args.threads))
    channels, layers, classes, size = DATASET_DEFAULTS[args.dataset]
    channels = args.channels or channels
    layers = args.layers or layers
    classes = args.num_classes or classes
    if layers < 3:
        raise UsageError(f"--layers {layers} is too small: a network needs at least 3 cells (two are reductions)")
    net_cls = NetworkImageNet if args.dataset == "imagenet" else NetworkCIFAR
    task = _make_task(args.task, args.dataset, classes) if args.task else None
    input_channels = task.input_channels if task else args.input_channels
    input_shape = task.input_shape(size) if task else (input_channels, size, size)
    for spec in args.genotypes:  # fail on a bad argument before printing anything
        if spec != "-":
            load_genotype(spec)
    rows = []
    if not args.json:
        print(f"# dataset={args.dataset} task={args.task or 'supervised'} channels={channels} layers={layers} "
              f"num_classes={task.num_classes if task else classes} input={'x'.join(map(str, input_shape))} "
              f"auxiliary={args.auxiliary}", file=out)
        print(f"{'genotype':<28} {'params':>12} {'params_with_aux':>16} {'MACs':>14}", file=out)
    for label, genotype in _genotypes(args.genotypes, stdin):
        net = net_cls(genotype, C=channels, num_classes=classes, layers=layers, auxiliary=args.auxiliary,
                      input_channels=input_channels, head=task.head if task else None)
        row = {
            "genotype": label,
            "params": count_params(net),
            "params_with_aux": count_params(net, exclude_auxiliary=False),
            "macs": count_macs(net, input_shape),
            "dataset": args.dataset,
            "channels": channels,
            "layers": layers,
            "task": args.task or "supervised",
            "num_classes": task.num_classes if task else classes,
            "input_shape": list(input_shape),
            "auxiliary": args.auxiliary,
        }
        rows.append(row)
        if args.json:
            print(json.dumps(row), file=out, flush=True)
        else:
            print(f"{label:<28} {row['params']:>12,} {row['params_with_aux']:>16,} {row['macs']:>14,}", file=out, flush=True)
    if not rows:
        raise UsageError("no genotypes given (stdin was empty)")


def _make_task(name: str, dataset: str, num_classes: int):
    """The objective whose head and input shape `arch info --task` measures (UnNAS's settings for the dataset)."""
    import pretext_tasks

    style = "imagenet" if dataset == "imagenet" else "cifar"
    if name == "supervised":
        return pretext_tasks.Supervised(num_classes=num_classes, style=style)
    return {"rotation": pretext_tasks.Rotation, "colorization": pretext_tasks.Colorization,
            "jigsaw": pretext_tasks.Jigsaw}[name](style=style)


def arch_draw(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from unnas.space.draw import draw_genotype

    genotype = load_genotype(args.genotype)
    try:
        draw_genotype(genotype, args.out, title=args.title if args.title is not None else args.genotype)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {args.out}", file=out)


def arch_sample(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    from unnas.space.sample import sample_genotypes

    if args.n < 1:
        raise UsageError(f"--n must be at least 1, got {args.n}")
    lines = [json.dumps({"id": f"s{args.seed}-{i:05d}", **g.to_dict()}) for i, g in enumerate(sample_genotypes(args.n, args.seed))]
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        print(f"wrote {len(lines)} genotypes to {args.out}", file=out)
    else:
        print("\n".join(lines), file=out)


def arch_list(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    names = registered_names(include_sampled=args.all)
    for name in names:
        print(f"{name:<24} {describe(name)}", file=out)
    if not args.all:
        sampled = [n for n in registered_names() if n.startswith(SAMPLED_PREFIX)]
        print(f"{SAMPLED_PREFIX + '<id>':<24} {len(sampled)} architectures of the UnNAS sample-based study "
              f"({sampled[0][len(SAMPLED_PREFIX):]} ... {sampled[-1][len(SAMPLED_PREFIX):]}); --all lists them", file=out)


def arch_show(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    genotype = load_genotype(args.genotype)
    print(genotype.to_json() if args.json else format_genotype(genotype), file=out)


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
                      help="registered name, Genotype(...) text, JSON, a .json file, or - to read one per line from stdin")
    info.add_argument("--dataset", choices=sorted(DATASET_DEFAULTS), default="cifar10",
                      help="network family and input size (cifar: 32x32, imagenet: 224x224)")
    info.add_argument("--channels", type=int, help="initial channels C (default: cifar 36, imagenet 48)")
    info.add_argument("--layers", type=int, help="number of cells L (default: cifar 20, imagenet 14)")
    info.add_argument("--auxiliary", action="store_true", help="build the auxiliary head (counted in params_with_aux)")
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
    draw.add_argument("--out", required=True, help="output file; the suffix picks the format")
    draw.add_argument("--title", help="figure title (default: the genotype argument)")
    draw.set_defaults(func=arch_draw)

    sample = asub.add_parser("sample", help="sample DARTS-space genotypes reproducibly (JSON lines)")
    sample.add_argument("--n", type=int, required=True, help="how many")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", help="write to this file instead of stdout")
    sample.set_defaults(func=arch_sample)

    lst = asub.add_parser("list", help="list the registered genotypes")
    lst.add_argument("--all", action="store_true", help="also list the 500 unnas500/<id> architectures")
    lst.set_defaults(func=arch_list)

    show = asub.add_parser("show", help="print a genotype in DARTS's format (or JSON)")
    show.add_argument("genotype", metavar="GENOTYPE")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=arch_show)
    return parser


LIGHTNING_COMMANDS = ("fit", "validate", "test")


def _user_errors() -> tuple:
    from unnas.data.sources import DataError
    from unnas.modules.common import NonFiniteLossError

    return (GenotypeError, UsageError, DataError, NonFiniteLossError)


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
        args.func(args, out, stdin)
    except (GenotypeError, UsageError) as e:
        print(f"unnas: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `unnas arch sample --n 500 | head`
        return 0
    return 0


def console_main() -> None:
    sys.exit(main())
