"""``unnas arch info | draw | sample | list | show``: inspect architectures of any space."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from unnas.cli.common import (DATASETS, SPACE_HELP, UsageError, _archs, _positive, _space_for, check_archs,
                              space_for_dataset)
from unnas.spaces.base import space_class, space_names


def arch_info(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> None:
    import torch

    from unnas.spaces.complexity import count_macs, count_params

    torch.set_num_threads(max(1, args.threads))
    _positive(args.channels, "--channels")
    _positive(args.layers, "--layers")
    _positive(args.num_classes, "--num-classes")
    _positive(args.input_channels, "--input-channels")
    check_archs(args, args.genotypes)
    spaces: dict = {}

    def setting(cls):
        if cls.name not in spaces:
            dataset, spec, space = space_for_dataset(cls, args, **({"auxiliary": True} if args.auxiliary else {}))
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



def add_parser(sub) -> None:
    arch = sub.add_parser("arch", help="inspect genotypes: info, draw, sample, list, show")
    asub = arch.add_subparsers(dest="arch_command", required=True, metavar="ARCH_COMMAND")

    info = asub.add_parser("info", help="parameters and multiply-adds of genotypes' networks")
    info.add_argument("genotypes", nargs="+", metavar="GENOTYPE",
                      help="registered name, the space's notation (Genotype(...), an NAS-Bench-201 arch string), JSON, "
                           "a .json file, or - to read one per line from stdin")
    info.add_argument("--space", choices=space_names(), help=SPACE_HELP)
    per_space = "; ".join(f"{n}: " + ", ".join(f"{d} ({spec.image_size}x{spec.image_size})"
                                               for d, spec in space_class(n).datasets.items()) for n in space_names())
    info.add_argument("--dataset", choices=DATASETS, default=None,
                      help=f"network family, classes and input size (default: the space's first: cifar10). {per_space}")
    info.add_argument("--channels", type=int,
                      help="initial channels C (default: darts cifar 36, imagenet 48; nb201 16; nb101 128, the "
                           "stem's width)")
    info.add_argument("--layers", type=int,
                      help="depth: darts cells L (default: cifar 20, imagenet 14); nb201 cells per stage N (default 5); "
                           "nb101 modules per stack (default: cifar 3, imagenet 4)")
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

    show = asub.add_parser("show", help="print an architecture in its space's notation (or JSON)")
    show.add_argument("genotype", metavar="GENOTYPE")
    show.add_argument("--space", choices=space_names(), help=SPACE_HELP)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=arch_show)

