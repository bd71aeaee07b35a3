"""The ``unnas`` command line.

``unnas fit | validate | test -c CONFIG`` runs a search or a training through LightningCLI
(:mod:`unnas.lightning_cli`); ``unnas arch ...`` inspects architectures of any space (info, draw, sample, list,
show). Errors in user input (:data:`unnas.errors.USER_ERRORS`) end every command with one line on stderr and exit
status 2, never a traceback: :func:`main` catches them, the one place that does.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional, TextIO

from unnas.cli import arch, bench, rank, study
from unnas.cli.fit import LIGHTNING_COMMANDS, run_lightning
from unnas.errors import USER_ERRORS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unnas", description="Unsupervised neural architecture search experiments.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("fit", "search or train (LightningCLI; `unnas fit --help`)"),
                       ("validate", "evaluate a checkpoint on the held-out split"),
                       ("test", "test a checkpoint on the held-out split")):
        sub.add_parser(name, help=text, add_help=False)
    arch.add_parser(sub)
    study.add_parser(sub)
    bench.add_parser(sub)
    rank.add_parser(sub)
    parser.epilog = subcommand_lines(sub)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> Optional[argparse._SubParsersAction]:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def subcommand_lines(sub: argparse._SubParsersAction) -> str:
    """``unnas --help``'s list of every command of each group (``unnas study init``, ...) with its one-line help,
    read from the subparsers themselves."""
    blocks = []
    for name, command in sub.choices.items():
        inner = _subparsers(command)
        if inner is None:
            continue
        helps = {a.dest: " ".join((a.help or "").replace("%%", "%").split()) for a in inner._choices_actions}
        width = max(len(n) for n in inner.choices)
        lines = [f"  {n:<{width}}  {helps.get(n, '')}".rstrip() for n in inner.choices]
        blocks.append(f"`unnas {name}` commands (`unnas {name} COMMAND --help`):\n" + "\n".join(lines))
    return "\n\n".join(blocks)


def main(argv: Optional[List[str]] = None, out: Optional[TextIO] = None, stdin: Optional[TextIO] = None) -> int:
    """Entry point of the ``unnas`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in LIGHTNING_COMMANDS:
            return run_lightning(argv)
        args = build_parser().parse_args(argv)
        return args.func(args, out or sys.stdout, stdin or sys.stdin) or 0
    except USER_ERRORS as e:
        print(f"unnas: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `unnas arch sample --n 500 | head`
        return 0


def console_main() -> None:
    sys.exit(main())

