"""What the ``unnas`` subcommands share: the one-line usage error and resolving spaces, datasets and architectures."""

from __future__ import annotations

import argparse
from typing import Iterable, List, Optional, Sequence, TextIO, Tuple

from unnas.errors import UserError
from unnas.spaces.base import DatasetSpec, detect_space, space_class, space_names


class UsageError(UserError):
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



def check_archs(args: argparse.Namespace, specs: Sequence[str]) -> None:
    """Fail on a bad architecture argument or dataset before any output (``-`` is read later)."""
    for spec in specs:
        if spec != "-":
            cls = _space_for(args, spec)
            cls().load(spec)
            _dataset(cls, args.dataset)


def space_for_dataset(cls: type, args: argparse.Namespace, **extra) -> Tuple[str, DatasetSpec, object]:
    """``(dataset, its spec, the space)`` for ``--dataset`` with ``--channels`` / ``--layers`` and *extra* applied."""
    dataset, spec = _dataset(cls, args.dataset)
    kwargs = dict(spec.space_kwargs)
    for key in ("channels", "layers"):
        if getattr(args, key, None) is not None:
            kwargs[key] = getattr(args, key)
    kwargs.update(extra)
    try:
        return dataset, spec, cls(**kwargs)
    except TypeError as e:
        raise UsageError(f"the {cls.name} space does not take these options ({e})") from None
