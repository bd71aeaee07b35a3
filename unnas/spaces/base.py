"""The search-space seam: what every space provides, and what search, training, the CLI and the study use.

A space is one subclass of :class:`SearchSpace` in its own folder under ``unnas/spaces/``, registered with
:func:`register_space`. It owns everything space-specific:

- notation: :meth:`~SearchSpace.parse` (strict; one-line :class:`ArchError`), :meth:`~SearchSpace.format`,
  JSON (:meth:`~SearchSpace.to_dict` / :meth:`~SearchSpace.from_dict`), with an exact round trip, and
  :meth:`~SearchSpace.load` for every accepted form (registered name, notation, JSON text, a ``.json`` file);
- a registry of named architectures and :meth:`~SearchSpace.sample` (reproducible; the distribution is
  documented by each space);
- the evaluation network for any objective (:meth:`~SearchSpace.network`: a head factory and input channels,
  ``forward`` returns ``(logits, aux_logits_or_None)``) and the search supernet (:meth:`~SearchSpace.supernet`,
  see :class:`~unnas.spaces.oneshot.Supernet`, built from the shared one-shot machinery of
  :mod:`unnas.spaces.oneshot`) with its derivation rule;
- drawing, and optionally ground truth (:meth:`~SearchSpace.ground_truth`).

Constructor arguments of a space are the network shape (``channels``, ``layers`` and space-specific ones);
LightningCLI reaches them with ``class_path`` / ``init_args``.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Tuple, Type

import numpy as np
from torch import nn

from unnas.errors import ConfigError, UserError
from unnas.spaces.speedups import Speedups
from unnas.spaces.oneshot.supernet import Supernet  # the interface a space's supernet provides (re-exported)

#: the space used when none is named and none is recognised
DEFAULT_SPACE = "darts"

HeadFactory = Callable[[int], nn.Module]


class ArchError(UserError, ValueError):
    """An architecture that cannot be parsed or is not valid in its space; the message is one line."""


def check_positive(where: str, **sizes: Any) -> None:
    """One-line :class:`~unnas.errors.ConfigError` unless every size in *sizes* is an integer of at least 1."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where} {name} must be a positive integer, got {value!r:.40}")


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset means for a space's networks: classes, input size, the objectives' style, and the space's
    constructor arguments for it (e.g. DARTS's ImageNet network)."""

    num_classes: int
    image_size: int
    style: str = "cifar"
    space_kwargs: Mapping[str, Any] = field(default_factory=dict)


class GroundTruth(ABC):
    """Known trained accuracies of a space's architectures on one dataset (a benchmark table or a benchmark's API)."""

    space: ClassVar[str]
    #: the benchmark's dataset names this object can answer for
    datasets: ClassVar[Tuple[str, ...]]

    @abstractmethod
    def query(self, arch: Any, dataset: Optional[str] = None) -> Optional[float]:
        """Accuracy (%) of *arch* on *dataset* (default: this object's dataset), or ``None`` when not covered."""

    def lookup(self, arch: Any, dataset: Optional[str] = None) -> Tuple[Optional[float], str]:
        """``(value, how)``: the accuracy and how it was found (``"exact"``; ``"not covered"`` with ``None``)."""
        value = self.query(arch, dataset)
        return value, "exact" if value is not None else "not covered"

    @abstractmethod
    def coverage(self) -> str:
        """One line: what the source is and how many architectures it holds."""

    def explain_missing(self, arch: Any, dataset: Optional[str] = None) -> str:
        """One line on why :meth:`query` has no answer for *arch*."""
        return f"{arch} is not in {self.coverage()}"

    def archs(self) -> List[Any]:
        """The architectures this source holds, in a fixed order (empty when it cannot list them)."""
        return []


class SearchSpace(ABC):
    """One cell search space. See the module docstring for what a space owns."""

    #: registry key and ``--space`` value
    name: ClassVar[str]
    #: datasets ``unnas arch info --dataset`` knows for this space
    datasets: ClassVar[Mapping[str, DatasetSpec]]
    #: one line for ``unnas arch list`` and the docs
    summary: ClassVar[str] = ""
    #: the study config ``unnas study init`` uses for this space without ``--config`` (relative to the repository)
    default_study_config: ClassVar[Optional[str]] = None
    #: whether :meth:`supernet` builds a weight-sharing supernet (a space without one serves training and ranking)
    searchable: ClassVar[bool] = True
    #: what an architecture of this space is called in one-line messages ("a DARTS genotype")
    arch_noun: ClassVar[str] = "an architecture"
    #: the notations this space recognises, for the one-line error when no space recognises an argument
    expects: ClassVar[str] = ""
    #: the training config (relative to the repository) that trains this space's architectures on a CPU
    train_config: ClassVar[Optional[str]] = None
    #: per device type, this space's choice for the speed switches a config leaves unset, where it differs from
    #: :data:`unnas.spaces.speedups.DEVICE_DEFAULTS` (measured in docs/benchmarks.md)
    device_speedups: ClassVar[Mapping[str, Speedups]] = {}

    # -------------------------------------------------------------------------------- notation
    @abstractmethod
    def parse(self, text: str) -> Any:
        """The architecture written as *text* in this space's notation; raises :class:`ArchError`."""

    @abstractmethod
    def format(self, arch: Any) -> str:
        """*arch* in this space's notation (``parse(format(a)) == a``)."""

    @abstractmethod
    def to_dict(self, arch: Any) -> Dict[str, Any]:
        """A JSON-serialisable object (``from_dict(to_dict(a)) == a``)."""

    @abstractmethod
    def from_dict(self, obj: Any) -> Any:
        """The architecture of a decoded JSON value; raises :class:`ArchError`."""

    def arch_features(self, arch: Any) -> np.ndarray:
        """A fixed-length float32 vector of *arch* for surrogate models (``unnas study propose``): equal
        architectures give equal vectors, distinct ones distinct vectors; the length depends on the space's
        constructor only."""
        raise ConfigError(f"the {self.name} space has no architecture encoding; give {type(self).__name__} an "
                          "arch_features(arch) method")

    @classmethod
    @abstractmethod
    def is_arch(cls, obj: Any) -> bool:
        """Whether *obj* already is an architecture object of this space."""

    @classmethod
    @abstractmethod
    def recognises(cls, text: str) -> bool:
        """Whether *text* (a name, notation or JSON text, not a path) is meant for this space."""

    def to_json(self, arch: Any) -> str:
        return json.dumps(self.to_dict(arch))

    def save(self, arch: Any, path: str) -> None:
        """Write *arch* as this space's JSON, readable by :meth:`load`."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(arch), f, indent=1)
            f.write("\n")

    # -------------------------------------------------------------------------------- registry
    @abstractmethod
    def registry(self) -> Mapping[str, Any]:
        """Named architectures of this space: name -> architecture."""

    def describe(self, name: str) -> str:
        """One line about a registered name."""
        return ""

    def listed_names(self) -> List[str]:
        """The names ``unnas arch list`` shows without ``--all`` (default: all of them)."""
        return list(self.registry())

    def collapsed_names(self) -> List[Tuple[str, str]]:
        """``(pattern, description)`` of the registered names :meth:`listed_names` leaves out (``unnas arch list``)."""
        return []

    def load(self, spec: Any) -> Any:
        """An architecture from an architecture object, a registered name, a path to a ``.json`` file, notation
        or JSON text (a path that exists is always read as a file)."""
        if self.is_arch(spec):
            return spec
        if isinstance(spec, dict):
            return self.from_dict(spec)
        if isinstance(spec, os.PathLike):
            spec = os.fspath(spec)
        if not isinstance(spec, str):
            raise ArchError(f"cannot read a {self.name} architecture from a {type(spec).__name__}")
        text = spec.strip()
        if not text:
            raise ArchError(f"empty {self.name} architecture")
        reg = self.registry()
        if text in reg:
            return reg[text]
        if os.path.isfile(text):
            return self.from_dict(read_json_file(text))
        if text.startswith("{"):
            return self.from_dict(json_value(text, "invalid JSON"))
        if text.lower().endswith(".json"):
            raise ArchError(f"architecture file {text} does not exist")
        return self.parse(text)

    def sample(self, n: int, seed: int = 0) -> List[Any]:  # pragma: no cover - interface
        """*n* distinct architectures drawn reproducibly from ``numpy.random.default_rng(seed)``."""
        raise NotImplementedError

    def arch_set(self, spec: str) -> Optional[List[Tuple[str, Any]]]:
        """Named sets of architectures for ``unnas study init --archs`` (``(id, arch)`` pairs), or ``None`` when
        *spec* is not one of this space's sets."""
        return None

    def arch_set_help(self) -> str:
        return ""

    # -------------------------------------------------------------------------------- networks
    @abstractmethod
    def network(self, arch: Any, head: Optional[HeadFactory] = None, num_classes: int = 10,
                input_channels: int = 3) -> nn.Module:
        """The evaluation network of *arch* at this space's shape; ``forward`` returns ``(logits, aux)``.

        *head* is the objective's head factory (``head(in_channels) -> Head``); without it a GAP + linear
        classifier with *num_classes* outputs.
        """

    @abstractmethod
    def supernet(self, head: Optional[HeadFactory] = None, num_classes: int = 10, input_channels: int = 3) -> Supernet:
        """The search supernet at this space's shape (see :class:`Supernet`)."""

    def supports_drop_path(self) -> bool:
        return False

    def speedups_for(self, device: Any) -> Speedups:
        """The speed switches this space's networks run with on *device*: those the config sets, the others by
        device type (:attr:`device_speedups`, else :data:`~unnas.spaces.speedups.DEVICE_DEFAULTS`, else plain)."""
        spec = getattr(self, "speedups", None)
        spec = spec if isinstance(spec, Speedups) else Speedups()
        return spec.for_device(device, self.device_speedups)

    # -------------------------------------------------------------------------------- the rest
    def draw(self, arch: Any, out: Optional[str] = None, title: Optional[str] = None):  # pragma: no cover
        """Draw *arch* to *out* (.png, .svg or .pdf); returns the matplotlib figure."""
        raise NotImplementedError

    def ground_truth(self, dataset: Optional[str] = None, path: Optional[str] = None,
                     metric: Optional[str] = None) -> Optional[GroundTruth]:
        """This space's ground truth for *dataset* (the embedded default, or the benchmark file at *path*; *metric*
        picks the benchmark's accuracy column), or ``None`` when the space has none."""
        return None

    def shape(self) -> Dict[str, Any]:
        """The network shape this object builds (recorded with results)."""
        return {}


def read_json_file(path: str) -> Any:
    """A JSON file's value (a UTF-8 byte-order mark is allowed); one-line :class:`ArchError` on failure."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ArchError(f"cannot read {path}: {e}") from None
    return json_value(text, f"{path} is not valid JSON")


def load_naslib_table(path: str, *, benchmark: str, naslib_file: str, top_key: str, default: bool,
                      cache: Dict[Tuple[str, float, int], Any], build: Callable[[Any, str], Any]) -> Any:
    """A table in NASLib's zero-cost format at *path*, read once per file version (cached in *cache* by real path,
    mtime and size) and turned into a space's lookup by ``build(obj[top_key] or None, fix)``, where *fix* ends every
    one-line error about the file."""
    fix = ("reinstall unnas: the file ships with it" if default else
           f"point path at a file in NASLib's format (naslib/data/{naslib_file}, branch benchmarks)")
    if not os.path.isfile(path):
        raise ArchError(f"{benchmark} table {path} does not exist; {fix}")
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_mtime, st.st_size)
    if key not in cache:
        try:
            obj = read_json_file(path)
        except ArchError as e:
            raise ArchError(f"{e}; {fix}") from None
        cache[key] = build(obj.get(top_key) if isinstance(obj, dict) else None, fix)
    return cache[key]


#: longest run of digits a notation reads as one integer (Python refuses to convert more than
#: ``sys.get_int_max_str_digits()``, 4,300 by default; every index of every space is a few digits long)
MAX_DIGITS = 100


def small_int(digits: str, what: str) -> int:
    """``int(digits)`` for a string of ASCII digits; one-line :class:`ArchError` starting with *what* when it is
    longer than :data:`MAX_DIGITS` (Python would refuse a number of more than 4,300 digits with a traceback)."""
    if len(digits) > MAX_DIGITS:
        raise ArchError(f"{what} is a number {len(digits):,} digits long; indices of architectures are small integers")
    return int(digits)


def _recognised_int(digits: str) -> int:
    # for recognition only: a huge number decodes as 0, so that the JSON is recognised and its space's parser
    # gives the one-line error
    return int(digits) if len(digits) <= MAX_DIGITS else 0


def json_for_recognition(text: str) -> Any:
    """The value of JSON *text* for :meth:`SearchSpace.recognises` (numbers of any length decode), or ``None`` when
    *text* is not JSON."""
    try:
        return json.loads(text, parse_int=_recognised_int)
    except (ValueError, RecursionError):
        return None


def json_value(text: str, what: str) -> Any:
    """The value of JSON *text*; one-line :class:`ArchError` starting with *what* otherwise."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ArchError(f"{what} ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise ArchError(f"{what} (nested too deeply)") from None
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits())
        raise ArchError(f"{what} (a number thousands of digits long)") from None


# ------------------------------------------------------------------------------------ the registry of spaces
_SPACES: Dict[str, Type[SearchSpace]] = {}


def register_space(cls: Type[SearchSpace]) -> Type[SearchSpace]:
    """Class decorator: make *cls* known under ``cls.name`` (``--space``, study stores, auto-detection)."""
    if cls.name in _SPACES and _SPACES[cls.name] is not cls:
        raise ValueError(f"two search spaces are named {cls.name!r}")
    _SPACES[cls.name] = cls
    return cls


def space_names() -> List[str]:
    _load_builtin_spaces()
    return list(_SPACES)


def space_class(name: str) -> Type[SearchSpace]:
    """The space registered as *name*; one-line :class:`ArchError` naming the known spaces otherwise."""
    _load_builtin_spaces()
    if name not in _SPACES:
        raise ArchError(f"unknown search space {name!r}; known spaces: {', '.join(_SPACES)}")
    return _SPACES[name]


def detect_space(spec: Any) -> Type[SearchSpace]:
    """The space an architecture argument belongs to: an architecture object, a registered name, recognisable
    notation or JSON, or a file holding one (each space's :meth:`~SearchSpace.recognises` decides; the first space
    that claims it wins, :data:`DEFAULT_SPACE` last). Empty text belongs to :data:`DEFAULT_SPACE` (its parser gives
    the error). Text that no space recognises is a one-line :class:`ArchError` naming what each space expects."""
    _load_builtin_spaces()
    for cls in _SPACES.values():
        if cls.is_arch(spec):
            return cls
    text = spec
    shown = spec
    if isinstance(spec, (dict, list)):
        try:
            text = json.dumps(spec)
        except ValueError:  # an integer too long to print
            text = ""
    elif isinstance(spec, (str, os.PathLike)):
        text = shown = os.fspath(spec).strip()
        if os.path.isfile(text):
            text = _file_text(text)
    if not isinstance(text, str):
        raise ArchError(f"cannot read an architecture from a {type(spec).__name__}")
    if not text.strip():
        return _SPACES[DEFAULT_SPACE]
    order = [c for n, c in _SPACES.items() if n != DEFAULT_SPACE] + [_SPACES[DEFAULT_SPACE]]
    for cls in order:
        if cls.recognises(text):
            return cls
    raise ArchError(unrecognised(shown))


def _file_text(path: str) -> str:
    """A file's architecture as text for recognition: its JSON re-encoded, else its first characters (DARTS reads
    ``Genotype(...)`` text from a file too). JSON that cannot be decoded is a one-line :class:`ArchError`."""
    try:
        return json.dumps(read_json_file(path))
    except ArchError:
        try:
            with open(path, encoding="utf-8-sig") as f:
                head = f.read(1 << 16).strip()
        except (OSError, UnicodeDecodeError):
            head = ""
        if not head or head.startswith(("{", "[")):
            raise
        return head


def unrecognised(spec: Any) -> str:
    """The one-line message for an architecture argument that no space recognises: what each space expects."""
    text = str(spec)
    if len(text) > 60:
        text = text[:60] + "..."
    expected = "; ".join(f"{n}: {c.expects or c.summary}" for n, c in _SPACES.items())
    return (f"no search space recognises the architecture {text!r}. Expected {expected}. Use one of these forms, "
            "or give --space (model.init_args.space) to read it in one space's notation")


def _load_builtin_spaces() -> None:
    """Import ``unnas/spaces/<folder>/space.py`` of every space folder, which registers its class."""
    import importlib
    import importlib.util
    import pkgutil

    # the folder of unnas.spaces, found without importing the package (which imports this module)
    for info in sorted(pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]), key=lambda m: m.name):
        if info.ispkg and importlib.util.find_spec(f"unnas.spaces.{info.name}.space") is not None:
            importlib.import_module(f"unnas.spaces.{info.name}.space")
