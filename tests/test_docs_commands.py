"""Every ``unnas`` command in a code block of the README and docs/ parses: its subcommand, flags and values are
accepted (``unnas fit`` commands: their configs and ``--key=value`` options resolve through the real parser), so
renaming a flag, a config or a key without updating the docs fails here."""

from __future__ import annotations

import glob
import os
import re
import shlex
from typing import List, Tuple

import pytest

from unnas.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
# what a shell line may hold after the command itself
_REDIRECT = {"<", ">", ">>", "2>", "2>&1"}


def _synopsis(command: List[str]) -> bool:
    """Whether a command is a usage synopsis (``[--flag VALUE]``, ``ARCH...``), not a command to run."""
    return any(t.startswith("[") or t.endswith("]") or "..." in t or "`" in t for t in command)


def documented_commands() -> List[Tuple[str, List[str]]]:
    """``(file, argv)`` of every ``unnas ...`` command in a fenced code block (continuation lines joined, ``$ ``
    prompts, comments, pipes, ``&&`` chains and redirections split off, quotes kept as the shell reads them)."""
    found = []
    for rel in DOCS:
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            text = f.read()
        for block in re.findall(r"```(?:bash|sh|console|shell)?\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip()
                line = line[2:] if line.startswith("$ ") else line
                if "unnas " not in line or _synopsis(line.split()):
                    continue
                lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
                lexer.whitespace_split = True
                command: List[str] = []
                for token in [*lexer, ";"]:
                    if token and set(token) <= set("|&;<>()"):  # the end of one command
                        if command[:1] == ["unnas"] and len(command) > 1 and not _synopsis(command):
                            found.append((rel, command[1:]))
                        command = [] if token not in _REDIRECT and not token.startswith((">", "<")) else ["-"]
                        continue
                    if command != ["-"]:
                        command.append(token)
    return found


COMMANDS = documented_commands()


def test_the_docs_hold_commands_of_every_kind():
    kinds = {argv[0] for _, argv in COMMANDS}
    assert {"fit", "arch", "study", "rank", "bench"} <= kinds


@pytest.mark.parametrize("where, argv", [c for c in COMMANDS if c[1][0] != "fit"],
                         ids=[f"{w}:{' '.join(a)[:60]}" for w, a in COMMANDS if a[0] != "fit"])
def test_a_documented_command_parses(where, argv):
    try:
        build_parser().parse_args(argv)
    except SystemExit as e:  # argparse's usage error
        pytest.fail(f"{where}: `unnas {' '.join(argv)}` does not parse (exit {e.code})")


@pytest.mark.parametrize("where, argv", [c for c in COMMANDS if c[1][0] == "fit"],
                         ids=[f"{w}:{' '.join(a)[:60]}" for w, a in COMMANDS if a[0] == "fit"])
def test_a_documented_fit_command_resolves(where, argv, monkeypatch, tmp_path):
    from unnas.lightning_cli import run

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    args = []
    for token in argv[1:]:
        key, _, value = token.partition("=")
        if value.startswith("runs/"):  # a file the documented search before it writes
            continue
        if key.endswith(".root"):  # a data folder of the reader's machine
            token = f"{key}={tmp_path}"
        args.append(token)
    run([*args, "--trainer.accelerator=cpu"], run=False)


@pytest.mark.parametrize("where, argv", [c for c in COMMANDS if c[1][:2] == ["bench", "query"]],
                         ids=[f"{w}:{' '.join(a)[:60]}" for w, a in COMMANDS if a[:2] == ["bench", "query"]])
def test_a_documented_benchmark_query_answers(where, argv):
    import io

    from unnas.cli import main

    out = io.StringIO()
    assert main(argv, out=out, stdin=io.StringIO("")) == 0, f"{where}: `unnas {' '.join(argv)}` found no accuracy"
    assert all(float(line.split("\t")[-1]) > 0 for line in out.getvalue().splitlines())
