"""``unnas fit | validate | test``: LightningCLI (:mod:`unnas.lightning_cli`) with the torch thread default of the
command line; the user error behind a failure is raised for :func:`unnas.cli.main` to print as one line."""

from __future__ import annotations

from typing import List

LIGHTNING_COMMANDS = ("fit", "validate", "test")


def run_lightning(argv: List[str]) -> int:
    """``unnas fit|validate|test ...``: LightningCLI with torch threads defaulting to OMP_NUM_THREADS (a positive
    integer), else the usable cores. A failure caused by a user error (a bad setting, a damaged checkpoint, a NaN
    loss) raises that error alone (:func:`unnas.lightning_cli.find_user_error`). The caller's torch thread count
    is restored afterwards."""
    import torch

    from unnas.errors import USER_ERRORS
    from unnas.lightning_cli import default_threads, find_user_error, run

    threads = torch.get_num_threads()
    try:
        run(argv, default_threads=default_threads())
    except USER_ERRORS:
        raise
    except Exception as e:  # noqa: BLE001 - only a wrapped user error is unwrapped; others re-raise
        cause = find_user_error(e)
        if cause is None:
            raise
        raise cause from None
    finally:
        torch.set_num_threads(threads)
    return 0
