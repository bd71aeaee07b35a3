"""``unnas arch info | draw | sample | list | show``: inspect architectures of any space."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from unnas.cli.common import (UsageError, _archs, _positive, _space_for, all_datasets, check_archs, datasets_help,
                              make_objective, objective_help, shape_defaults_help, space_for_dataset, space_help)
from unnas.spaces.base import DEFAULT_SPACE, space_class, space_names


def arch_info(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    import torch

    from unnas.spaces.complexity import check_fits, count_macs, count_params, memory_error, out_of_memory

    torch.set_num_threads(max(1, args.threads))
    _positive(args.channels, "--channels")
    _positive(args.layers, "--layers")
    _positive(args.num_classes, "--num-classes")
    _positive(args.input_channels, "--input-channels")
    check_archs(args, args.archs)
    objective_name = args.objective or "supervised"
    if args.objective:  # an unknown objective fails before any output
        from pretext_tasks import ObjectiveError, objective_class

        try:
            objective_class(args.objective)
        except ObjectiveError as e:
            raise UsageError(f"--objective: {e}") from None
    spaces: dict = {}

    def setting(cls):
        if cls.name not in spaces:
            dataset, spec, space = space_for_dataset(cls, args, **({"auxiliary": True} if args.auxiliary else {}))
            classes = args.num_classes or spec.num_classes
            task = make_objective(args.objective, spec.style, classes) if args.objective else None
            input_channels = task.input_channels if task else args.input_channels
            input_shape = task.input_shape(spec.image_size) if task else (input_channels, spec.image_size, spec.image_size)
            spaces[cls.name] = (space, dataset, classes, task, input_channels, input_shape)
            if not args.json:
                print(f"# space={cls.name} dataset={dataset} objective={objective_name} "
                      + " ".join(f"{k}={v}" for k, v in space.shape().items())
                      + f" num_classes={task.num_classes if task else classes} input={'x'.join(map(str, input_shape))}",
                      file=out)
                print(f"{'arch':<28} {'params':>12} {'params_with_aux':>16} {'MACs':>14}", file=out)
        return spaces[cls.name]

    n, checked = 0, set()
    fix = "use smaller --channels / --layers"
    for label, cls, arch in _archs(args, args.archs, stdin):
        space, dataset, classes, task, input_channels, input_shape = setting(cls)

        def build():
            return space.network(arch, head=task.head if task else None, num_classes=classes,
                                 input_channels=input_channels)

        if cls.name not in checked:  # the shape settings decide the size: measured once per space, on no memory
            check_fits(build, input_shape, fix=fix)
            checked.add(cls.name)
        try:
            net = build()
            counts = count_params(net), count_params(net, exclude_auxiliary=False), count_macs(net, input_shape)
        except (RuntimeError, MemoryError) as e:
            if out_of_memory(e):
                raise memory_error(e, fix) from None
            raise
        row = {
            "genotype": label,
            "space": cls.name,
            "params": counts[0],
            "params_with_aux": counts[1],
            "macs": counts[2],
            "dataset": dataset,
            **space.shape(),
            "objective": objective_name,
            "task": objective_name,  # the same, under its earlier key
            "num_classes": task.num_classes if task else classes,
            "input_shape": list(input_shape),
        }
        n += 1
        if args.json:
            print(json.dumps(row), file=out, flush=True)
        else:
            print(f"{label:<28} {row['params']:>12,} {row['params_with_aux']:>16,} {row['macs']:>14,}", file=out, flush=True)
    if not n:
        raise UsageError("no architectures given (stdin was empty)")


def arch_draw(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    cls = _space_for(args, args.arch)
    space = cls()
    arch = space.load(args.arch)
    try:
        space.draw(arch, args.out, title=args.title if args.title is not None else args.arch)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {args.out}", file=out)


def arch_sample(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    if args.n < 1:
        raise UsageError(f"--n must be at least 1, got {args.n}")
    space = space_class(args.space or DEFAULT_SPACE)()
    lines = [json.dumps({"id": f"s{args.seed}-{i:05d}", **space.to_dict(g)}) for i, g in enumerate(space.sample(args.n, args.seed))]
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        print(f"wrote {len(lines)} architectures to {args.out}", file=out)
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
    space = _space_for(args, args.arch)()
    arch = space.load(args.arch)
    print(space.to_json(arch) if args.json else space.format(arch), file=out)



def add_parser(sub) -> None:
    arch = sub.add_parser("arch", help="inspect architectures of any space: info, draw, sample, list, show")
    asub = arch.add_subparsers(dest="arch_command", required=True, metavar="ARCH_COMMAND")
    spaces = space_names()

    info = asub.add_parser("info", help="parameters and multiply-adds of architectures' networks")
    info.add_argument("archs", nargs="+", metavar="ARCH",
                      help="registered name, the space's notation (e.g. Genotype(...), an NAS-Bench-201 arch string), "
                           "JSON, a .json file, or - to read one per line from stdin")
    info.add_argument("--space", choices=spaces, help=space_help())
    info.add_argument("--dataset", choices=all_datasets(), default=None,
                      help=f"network family, classes and input size (default: the space's first). {datasets_help()}")
    info.add_argument("--channels", type=int,
                      help=f"initial channels (default per space and dataset: {shape_defaults_help('channels')})")
    info.add_argument("--layers", type=int,
                      help=f"depth, the space's `layers` (default per space and dataset: "
                           f"{shape_defaults_help('layers')})")
    info.add_argument("--auxiliary", action="store_true",
                      help="build the auxiliary head, where the space has one (counted in params_with_aux)")
    info.add_argument("--num-classes", type=int, help="classifier outputs (default from --dataset)")
    info.add_argument("--input-channels", type=int, default=3, help="input channels (ignored with --objective)")
    info.add_argument("--objective", "--task", dest="objective", metavar="OBJECTIVE",
                      help=f"measure this objective's network: its head, stem and one sample's input; a registered "
                           f"objective ({objective_help()}) or a PretextTask class path (--task is an alias)")
    info.add_argument("--json", action="store_true", help="one JSON object per architecture per line")
    info.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    info.set_defaults(func=arch_info)

    draw = asub.add_parser("draw", help="draw an architecture's cells to PNG, SVG or PDF")
    draw.add_argument("arch", metavar="ARCH")
    draw.add_argument("--space", choices=spaces, help=space_help())
    draw.add_argument("--out", required=True, help="output file; the suffix picks the format")
    draw.add_argument("--title", help="figure title (default: the ARCH argument)")
    draw.set_defaults(func=arch_draw)

    sample = asub.add_parser("sample", help="sample architectures of a space reproducibly (JSON lines)")
    sample.add_argument("--space", choices=spaces, default=DEFAULT_SPACE,
                        help=f"the space to sample: {', '.join(spaces)} (default {DEFAULT_SPACE})")
    sample.add_argument("--n", type=int, required=True, help="how many")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", help="write to this file instead of stdout")
    sample.set_defaults(func=arch_sample)

    lst = asub.add_parser("list", help="list the registered architectures")
    lst.add_argument("--all", action="store_true",
                     help="every registered name (also those a listing collapses into one pattern line)")
    lst.add_argument("--space", choices=spaces, help="only this space")
    lst.set_defaults(func=arch_list)

    show = asub.add_parser("show", help="print an architecture in its space's notation (or JSON)")
    show.add_argument("arch", metavar="ARCH")
    show.add_argument("--space", choices=spaces, help=space_help())
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=arch_show)
