import pytest


@pytest.fixture
def mocked_slurm():
    """submitit's own stand-in for sbatch and sacct: every sbatch creates a RUNNING job (ids 12, 13, ...) and a
    launch that gets through writes its job script."""
    pytest.importorskip("submitit")
    from submitit.core.test_core import MockedSubprocess
    from submitit.slurm.slurm import SlurmJob

    mock = MockedSubprocess(known_cmds=["srun"])
    with mock.context():
        yield mock
    SlurmJob.watcher.clear()
