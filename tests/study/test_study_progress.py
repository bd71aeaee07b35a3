"""What `unnas study work` tells while it runs (a line per job started, per epoch, per job done with its time; an
ETA from the finished jobs' wall times over the workers running), the bounds of `--lease` and `--n-boot`, and
`unnas --help` naming every study command."""

import io
import os

import pytest

from unnas.cli import build_parser, main
from unnas.study.store import Store
from unnas.study.worker import check_lease, init_study, progress_line, train_job, work

MAX_LEASE_S = 7 * 24 * 3600.0

from test_study_e2e import study_config  # noqa: F401 - the tiny two-objective study config


def one_line_error(capsys, code, *needles):
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("unnas: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def test_help_names_every_study_command_with_its_line():
    parser = build_parser()
    text = parser.format_help()
    top = next(a for a in parser._actions if hasattr(a, "choices") and a.choices and "study" in a.choices)
    study = next(a for a in top.choices["study"]._actions if hasattr(a, "choices") and a.choices)
    assert len(study.choices) >= 12
    for action in study._choices_actions:
        first_words = " ".join(action.help.split()[:4])
        assert f"  {action.dest} " in text and first_words in text, (action.dest, text)


def test_the_eta_is_the_mean_job_time_times_the_jobs_left_over_the_workers_running(tmp_path, study_config):  # noqa: F811
    store = init_study(str(tmp_path / "s"), archs="sample:5:1", tasks=["supervised"], seeds=[1], config=study_config)
    job = store.claim("a", 60)
    assert store.finish(job, "a", {"best_acc": 0.5, "wall_time_s": 100.0, "job_time_s": 600.0})
    store.claim("b", 60)  # worker b trains now; worker a asks, about to claim its next job
    line = progress_line(store, "a")
    assert line == "[1/5 done, 1 running, 0 failed, 4 left, ETA 20.0 min at 2 worker(s)]"  # 600 s x 4 / 2
    assert "ETA 40.0 min at 1 worker(s)" in progress_line(store)  # `study status`: the workers holding a job


def test_durations_read_in_the_unit_that_fits():
    from unnas.study.worker import duration

    assert [duration(s) for s in (3, 420, 3 * 3600, 5 * 86400)] == ["3 s", "7.0 min", "3.0 h", "5.0 days"]


def test_work_logs_each_job_started_its_progress_and_its_time(tmp_path, study_config):  # noqa: F811
    store = init_study(str(tmp_path / "s"), archs="sample:2:1", tasks=["supervised"], seeds=[1], config=study_config)
    lines = []

    def run_job(directory, job, renew=None, log=None):
        log(f"job {job.id}: epoch 1/1 done")
        return {"best_acc": 0.5}

    work(store, run_job=run_job, log=lines.append, threads=1)
    starts = [ln for ln in lines if "started: " in ln]
    dones = [ln for ln in lines if " done in " in ln]
    assert len(starts) == 2 and len(dones) == 2 and all("] job " in ln for ln in starts)
    assert any(ln.endswith("job 1: epoch 1/1 done") and ln.startswith("[") for ln in lines)
    assert Store.open(store.directory).results()[0]["job_time_s"] > 0
    work(store, run_job=lambda d, job, renew=None: {"best_acc": 0.5}, log=lines.append)  # a runner without log


def test_a_training_job_logs_every_epoch(tmp_path, study_config):  # noqa: F811
    study = str(tmp_path / "s")
    store = init_study(study, archs="sample:1:1", tasks=["rotation"], seeds=[1], config=study_config,
                       overrides={"trainer.max_epochs": 2})
    lines = []
    train_job(study, store.claim("w", 60), log=lines.append)
    assert [ln.split(",")[0] for ln in lines] == ["job 1: epoch 1/2 done", "job 1: epoch 2/2 done"]


@pytest.mark.parametrize("lease, needle", [(float("inf"), "at most 604800 s"), (1e9, "at most 604800 s"),
                                           (MAX_LEASE_S + 1, "at most 604800 s"), (float("nan"), "at least 20 s"),
                                           (19.0, "at least 20 s")])
def test_a_lease_is_bounded(lease, needle):
    with pytest.raises(Exception, match=f"--lease must be {needle}"):
        check_lease(lease)
    assert check_lease(MAX_LEASE_S) == MAX_LEASE_S


@pytest.mark.parametrize("n_boot", ["0", "-5"])
def test_report_refuses_fewer_than_one_resample(tmp_path, capsys, study_config, n_boot):  # noqa: F811
    study = str(tmp_path / "s")
    init_study(study, archs="sample:2:1", tasks=["supervised"], seeds=[1], config=study_config)
    code = main(["study", "report", study, "--out", str(tmp_path / "r"), "--n-boot", n_boot], out=io.StringIO())
    one_line_error(capsys, code, "--n-boot must be at least 1", f"got {n_boot}")
    assert not os.path.exists(tmp_path / "r")


@pytest.mark.parametrize("flags, machine, layout", [
    ((None, None), (2, False), (2, 1)),    # no GPU: one single-thread worker per core (docs/benchmarks.md)
    ((None, None), (32, False), (8, 4)),   # at most 8 workers; the other cores as threads
    ((None, None), (1, False), (1, 1)),
    ((None, None), (16, True), (1, 16)),   # a GPU: one worker (one CUDA context), every core a thread
    ((None, 1), (2, False), (1, 1)),       # --threads alone: one worker, as before
    ((3, None), (12, False), (3, 4)),      # --workers alone: the cores shared
    ((2, 2), (2, False), (2, 2)),
])
def test_the_default_layout_of_workers_and_threads(flags, machine, layout):
    from unnas.study.worker import default_layout

    assert default_layout(*flags, cores=machine[0], gpu=machine[1]) == layout
