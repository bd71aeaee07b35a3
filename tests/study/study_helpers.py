"""What the study's fault tests share: a store made directly, and the check that a command ends in one line."""

import io

from unnas.cli import main
from unnas.study.store import Store


def make_study(directory, archs=2, tasks=("rotation",), seeds=(1,)) -> Store:
    """A DARTS-space store of *archs* placeholder architectures x *tasks* x *seeds*, made without configs."""
    return Store.create(str(directory), [(f"a{i}", "{}") for i in range(archs)], list(tasks), list(seeds),
                        meta={"space": "darts", "tasks": list(tasks), "seeds": list(seeds)})


def one_line_error(argv, capsys) -> str:
    """Run ``unnas ARGV``; assert it ends with exit status 2 and one ``unnas: error:`` line, and return that line."""
    code = main(argv, out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("unnas: error: "), err
    return err.strip()


def assert_one_line(capsys, code, *needles) -> str:
    """Assert a command that returned *code* ended with exit status 2 and one ``unnas: error:`` line holding every
    needle, and return that line."""
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("unnas: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    return err
