"""What the ``unnas`` subcommands share: the one-line usage error, and resolving spaces, datasets, architectures
and objectives. Every list of spaces and objectives is read from their registries (:func:`space_names`,
:func:`pretext_tasks.objective_names`), never written out here."""

from __future__ import annotations

import argparse
from typing import Iterable, List, Optional, Sequence, TextIO, Tuple

from unnas.errors import UserError
from unnas.spaces.base import DEFAULT_SPACE, DatasetSpec, detect_space, space_class, space_names


class UsageError(UserError):
    """Bad command-line input; reported as one line."""


def space_help() -> str:
    """Help of ``--space`` for an architecture argument."""
    return (f"the search space: {', '.join(space_names())} (default: recognised from the architecture; "
            f"{DEFAULT_SPACE} when nothing else claims it)")


def all_datasets() -> List[str]:
    """Every dataset of every registered space, each once, in the spaces' order."""
    names: List[str] = []
    for space in space_names():
        names += [d for d in space_class(space).datasets if d not in names]
    return names


def datasets_help() -> str:
    """Per space, its datasets with their input sizes (the first is the space's default)."""
    return "; ".join(f"{n}: " + ", ".join(f"{d} ({spec.image_size}x{spec.image_size})"
                                          for d, spec in space_class(n).datasets.items()) for n in space_names())


def shape_defaults_help(key: str) -> str:
    """Per space, the default of its shape setting *key* (``channels``, ``layers``) for each of its datasets, as
    its constructor gives it: ``darts: 36 (cifar10, cifar100), 48 (imagenet); nb201: 16``."""
    parts = []
    for name in space_names():
        cls, values = space_class(name), {}
        for dataset, spec in cls.datasets.items():
            try:
                value = cls(**spec.space_kwargs).shape().get(key)
            except Exception:  # noqa: BLE001 - a space that cannot be built with its defaults is left out of the help
                value = None
            if value is not None:
                values.setdefault(value, []).append(dataset)
        if len(values) == 1:
            parts.append(f"{name}: {next(iter(values))}")
        elif values:
            parts.append(f"{name}: " + ", ".join(f"{v} ({', '.join(ds)})" for v, ds in values.items()))
    return "; ".join(parts)


def objective_help() -> str:
    """The registered objectives, for help texts."""
    from pretext_tasks import objective_names

    return ", ".join(objective_names())


def make_objective(spec, style: str, num_classes: int, flag: str = "--objective"):
    """The objective *spec* (a registered name, a class path or a class) for a dataset of *style* (``cifar`` /
    ``imagenet``); an objective whose targets are the dataset's labels (``needs_labels``) gets *num_classes*.
    Other constructor arguments keep their defaults. Unknown objectives raise
    :class:`pretext_tasks.ObjectiveError`; one that cannot be built so is a :class:`UsageError` naming *flag*."""
    import inspect

    from pretext_tasks import objective_class

    cls = objective_class(spec)
    params = inspect.signature(cls).parameters
    kwargs = {"style": style} if "style" in params else {}
    if cls.needs_labels and "num_classes" in params:
        kwargs["num_classes"] = num_classes
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise UsageError(f"{flag} {cls.__module__}.{cls.__name__}: cannot build it as {cls.__name__}({args}) ({e}); "
                         f"give it defaults for its other arguments") from None


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


def arch_set_of(args: argparse.Namespace, spec: str) -> Optional[List[Tuple[str, type, object]]]:
    """``(label, space class, arch)`` of each member when *spec* names a space's architecture set
    (``nb201-table``, ``nb201-sample:15625``, ...; of ``--space`` when given), else ``None``."""
    for name in ([args.space] if getattr(args, "space", None) else space_names()):
        cls = space_class(name)
        found = cls().arch_set(spec)
        if found is not None:
            return [(label, cls, arch) for label, arch in found]
    return None


def _archs(args: argparse.Namespace, specs: Sequence[str], stdin: TextIO) -> Iterable[Tuple[str, type, object]]:
    """``(label, space class, arch)`` for each argument; ``-`` reads one per line from *stdin*; a space's
    architecture set (``nb201-table``) gives each of its members."""
    from unnas.spaces import read_arch_lines

    fixed = space_class(args.space)() if getattr(args, "space", None) else None
    for spec in specs:
        members = arch_set_of(args, spec) if spec != "-" else None
        if members is not None:
            yield from members
        elif spec == "-":
            for label, space, arch in read_arch_lines(stdin, "stdin", fixed):
                yield label, type(space), arch
        else:
            cls = _space_for(args, spec)
            yield spec, cls, (fixed or cls()).load(spec)



def check_archs(args: argparse.Namespace, specs: Sequence[str]) -> None:
    """Fail on a bad architecture argument or dataset before any output (``-`` is read later)."""
    for spec in specs:
        if spec != "-" and arch_set_of(args, spec) is None:
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
