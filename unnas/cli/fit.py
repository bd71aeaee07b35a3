"""``unnas fit | validate | test``: LightningCLI, with known user errors turned into one line."""

from __future__ import annotations

import sys
from typing import List, Optional

from unnas.cli.common import UsageError


LIGHTNING_COMMANDS = ("fit", "validate", "test")


def _user_errors() -> tuple:
    from unnas.data.sources import DataError
    from unnas.modules.common import NonFiniteLossError

    from unnas.errors import ConfigError
    from unnas.spaces.base import ArchError

    return (ArchError, ConfigError, UsageError, DataError, NonFiniteLossError)


def run_lightning(argv: List[str]) -> int:
    """``unnas fit|validate|test ...``: LightningCLI with torch threads defaulting to OMP_NUM_THREADS (a positive
    integer), else the usable cores; known user errors (bad settings, a damaged checkpoint, a NaN loss) become one
    line and exit status 2. The caller's torch thread count is restored afterwards."""
    import torch

    from unnas.lightning_cli import default_threads, run

    threads = torch.get_num_threads()
    try:
        run(argv, default_threads=default_threads())
    except Exception as e:  # noqa: BLE001 - only known user errors are turned into one line; others re-raise
        cause = find_user_error(e)
        if cause is None:
            raise
        print(f"unnas: error: {cause}", file=sys.stderr)
        return 2
    finally:
        torch.set_num_threads(threads)
    return 0


def find_user_error(exc: BaseException) -> Optional[BaseException]:
    """The user error behind *exc*: jsonargparse wraps errors raised while instantiating classes."""
    kinds = _user_errors()
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kinds):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
