"""What launch asks the SLURM controller, through stand-in commands: squeue decides for the tasks sacct does not
know (a cluster without accounting), and the cluster's MaxArraySize caps the arrays."""

import stat

import pytest

from unnas.study import slurm, slurm_queue

NO_ACCOUNTING = "echo 'Slurm accounting storage is disabled' >&2; exit 1"


@pytest.fixture
def commands(tmp_path, monkeypatch):
    """Put shell scripts (name -> body) on an otherwise empty PATH."""
    pytest.importorskip("submitit")
    from submitit.slurm.slurm import SlurmJob

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))

    def put(**scripts):
        for name, body in scripts.items():
            path = bin_dir / name
            path.write_text("#!/bin/sh\n" + body + "\n")
            path.chmod(path.stat().st_mode | stat.S_IEXEC)

    yield put
    SlurmJob.watcher.clear()


def test_without_accounting_a_task_squeue_no_longer_lists_has_ended(commands):
    commands(sacct=NO_ACCOUNTING, squeue="printf '7_1\\n8\\n'")
    assert slurm.SlurmBackend.alive(["7_0", "7_1", "8", "9"]) == {"7_1", "8"}


@pytest.mark.parametrize("squeue", [None, "echo 'squeue: error: Unable to contact slurm controller' >&2; exit 1"])
def test_where_neither_sacct_nor_squeue_answers_every_task_counts_as_alive(commands, squeue):
    commands(sacct=NO_ACCOUNTING, **({"squeue": squeue} if squeue else {}))
    assert slurm.SlurmBackend.alive(["7_0", "8"]) == {"7_0", "8"}


def test_sacct_decides_for_the_tasks_it_knows(commands):
    commands(sacct="printf 'JobID|State|NodeList\\n7_0|COMPLETED|n1\\n7_1|RUNNING|n1\\n'", squeue="exit 0")
    assert slurm.SlurmBackend.alive(["7_0", "7_1"]) == {"7_1"}


@pytest.mark.parametrize("body, expected", [
    ("printf 'MaxArraySize            = 5\\nMaxJobCount             = 10000\\n'", 5),
    ("echo 'scontrol: error: Unable to contact slurm controller' >&2; exit 1", None),
    ("echo 'MaxJobCount = 10000'", None),
])
def test_max_array_size(commands, body, expected):
    commands(scontrol=body)
    assert slurm_queue.max_array_size() == expected


def test_a_missing_scontrol_is_no_answer(commands):
    assert slurm_queue.max_array_size() is None and slurm_queue.queued() is None
