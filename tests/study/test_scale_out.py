"""Scaling a study out: W&B runs read back page by page, result files ingested, SLURM job arrays through submitit."""

import glob
import io
import json
import math
import os
import sys
import time

import pytest
import yaml

from unnas.cli import main
from unnas.study import result_files, slurm
from unnas.study.result_files import ingest, write_result
from unnas.study.store import Store


def run(argv):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def make_study(directory, archs=3, tasks=("supervised", "rotation"), seeds=(1,)):
    """A study store with placeholder genotypes (enough for everything that does not train)."""
    return Store.create(str(directory), [(f"a{i}", "{}") for i in range(archs)], list(tasks), list(seeds),
                        meta={"space": "darts", "tasks": list(tasks), "seeds": list(seeds)})


def job_ids(store, keys):
    return [store.find(a, t, s) for a, t, s in keys]


# ------------------------------------------------------------------------------------------- W&B runs
class FakeRun:
    def __init__(self, i, state="finished", acc=True, arch=None):
        self.state = state
        self.config = {"arch": arch or f"a{i // 2}", "task": ("supervised", "rotation")[i % 2], "seed": 1}
        self.summary = {"best_acc": 0.5 + i * 1e-4} if acc else {}


class FakeApi:
    """W&B's public API as far as the report uses it: ``sweep(path).runs`` stops at 500 runs, ``runs(...)``
    pages through all of them."""

    def __init__(self, runs):
        self.all_runs = runs
        self.pages = 0
        self.calls = []

    def sweep(self, path):
        return type("Sweep", (), {"runs": self.all_runs[:500]})()

    def runs(self, path, filters=None, order="+created_at", per_page=50, include_sweeps=False, lazy=True):
        self.calls.append({"path": path, "filters": filters, "per_page": per_page, "lazy": lazy})
        for start in range(0, len(self.all_runs), per_page):
            self.pages += 1
            yield from self.all_runs[start:start + per_page]


def sweep_of_1234_runs():
    runs = [FakeRun(i) for i in range(1200)]
    runs += [FakeRun(i, state="running") for i in range(1200, 1220)]
    runs += [FakeRun(i, acc=False) for i in range(1220, 1230)]
    runs += [FakeRun(i) for i in range(4)]  # the same jobs again: a rerun of a crashed agent
    return runs


def test_report_reads_every_run_of_a_sweep_larger_than_500(monkeypatch):
    import wandb

    from unnas.cli import scale

    api = FakeApi(sweep_of_1234_runs())
    monkeypatch.setattr(wandb, "Api", lambda: api)
    lines = []
    records = scale.records_from_wandb("me/proj/abc123", log=lines.append)
    assert len(records) == 1200 and len({(r["arch"], r["task"], r["seed"]) for r in records}) == 1200
    assert api.calls == [{"path": "me/proj", "filters": {"sweep": "abc123"}, "per_page": 500, "lazy": False}]
    assert api.pages == math.ceil(1234 / 500)
    assert lines == ["read 1234 runs of W&B sweep me/proj/abc123: 1200 results; skipped 34 (20 not finished, "
                     "10 without a valid arch/task/seed/best_acc, 4 repeating a job already read)"]


def test_report_reads_several_sweeps_of_a_split_study(monkeypatch):
    import wandb

    from unnas.study.wandb_runs import records_from_wandb

    api = FakeApi([FakeRun(i) for i in range(6)])
    monkeypatch.setattr(wandb, "Api", lambda: api)
    records = records_from_wandb("me/proj/s1,s2", log=lambda m: None)
    assert [c["filters"] for c in api.calls] == [{"sweep": "s1"}, {"sweep": "s2"}]
    assert len(records) == 6  # the second sweep's runs repeat the first's jobs here, so they are skipped


@pytest.mark.parametrize("spec, message", [("me/abc123", "is not ENTITY/PROJECT/SWEEP_ID"),
                                           ("me/proj/boom", "cannot read W&B sweep me/proj/boom: no such sweep")])
def test_wandb_errors_are_one_line(monkeypatch, capsys, tmp_path, spec, message):
    import wandb

    class FailingApi(FakeApi):
        def runs(self, path, **kwargs):
            raise wandb.errors.CommError("no such sweep\nServer said 404")

    monkeypatch.setattr(wandb, "Api", lambda: FailingApi([]))
    code, _ = run(["study", "report", "--wandb", spec, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------- result files
def test_write_result_is_atomic(tmp_path, monkeypatch):
    path = write_result(str(tmp_path), 7, "a0", "rotation", 1, {"best_acc": 0.25})
    assert json.load(open(path))["result"] == {"best_acc": 0.25}

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(result_files.os, "fsync", disk_full)
    with pytest.raises(OSError):
        write_result(str(tmp_path), 8, "a1", "rotation", 1, {"best_acc": 0.5})
    assert sorted(os.listdir(tmp_path / "results")) == ["7.json"]  # no partial 8.json, no temporary file


def test_ingest_records_result_files_once_and_leaves_bad_ones(tmp_path):
    store = make_study(tmp_path)
    keys = [("a0", "supervised", 1), ("a0", "rotation", 1), ("a1", "supervised", 1), ("a1", "rotation", 1)]
    j0, j1, j2, j3 = job_ids(store, keys)
    d = str(tmp_path)
    write_result(d, j0, *keys[0], {"best_acc": 0.4})
    write_result(d, j1, *keys[1], {"best_acc": 0.3})
    write_result(d, j3, *keys[3], {"best_acc": 0.2})
    assert store.record(j3, {"best_acc": 0.2})  # a duplicate: already recorded by a `study work` worker
    text = open(result_files.result_path(d, j2), "w")
    text.write('{"job_id": %d, "arch": "a1", "task": "supervised", "seed": 1, "result": {"best_a' % j2)  # cut short
    text.close()
    write_result(d, 999, "a9", "supervised", 1, {"best_acc": 0.9})  # no such job in this study

    code, out = run(["study", "ingest", d])
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "ingested 2 result files (1 already recorded, 2 left in place)"
    assert lines[1].startswith(f"results/{j2}.json: not complete JSON") and lines[1].endswith("left in place")
    assert lines[2] == "results/999.json: this study has no job 999 for a9 supervised seed 1; left in place"
    assert os.path.exists(result_files.result_path(d, j2)) and os.path.exists(result_files.result_path(d, 999))
    assert sorted((r["arch"], r["task"], r["best_acc"]) for r in store.results()) == [
        ("a0", "rotation", 0.3), ("a0", "supervised", 0.4), ("a1", "rotation", 0.2)]

    again = ingest(d)
    assert (again.recorded, again.already, len(again.problems)) == (0, 3, 2)
    assert len(store.results()) == 3


# ------------------------------------------------------------------------------------------- launching
def test_launch_without_submitit_says_how_to_install(tmp_path, monkeypatch, capsys):
    make_study(tmp_path)
    monkeypatch.setitem(sys.modules, "submitit", None)
    code, _ = run(["study", "launch", str(tmp_path), "--slurm"])
    assert code == 2
    assert capsys.readouterr().err.strip() == ("unnas: error: launching on SLURM needs submitit, which is not "
                                               "installed: pip install 'unnas[slurm]'")


@pytest.mark.parametrize("argv, message", [(["--array-limit", "0"], "--array-limit must be at least 1"),
                                           ([], "add --slurm")])
def test_launch_settings_errors_are_one_line(tmp_path, capsys, argv, message):
    make_study(tmp_path)
    code, _ = run(["study", "launch", str(tmp_path)] + (["--slurm"] if argv else []) + argv)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1




def test_launch_submits_job_arrays_under_the_array_limit_and_resumes(tmp_path, mocked_slurm):
    store = make_study(tmp_path, archs=7, tasks=("rotation",))
    d = str(tmp_path)
    code, out = run(["study", "launch", d, "--slurm", "--array-limit", "3", "--parallel", "2", "--partition", "gpu",
                     "--gpus", "1", "--cpus", "4", "--time", "30"])
    assert code == 0, out
    subs = slurm.read_submissions(d)
    assert [s["cluster_id"] for s in subs] == ["12_0", "12_1", "12_2", "13_0", "13_1", "13_2", "14"]
    assert sorted(s["job"] for s in subs) == sorted(job_ids(store, [(f"a{i}", "rotation", 1) for i in range(7)]))
    arrays = sorted(line for f in glob.glob(os.path.join(d, "launch", "*", "logs", "*.sh"))
                    for line in open(f) if line.startswith("#SBATCH --array"))
    assert arrays == ["#SBATCH --array=0-2%2\n", "#SBATCH --array=0-2%2\n"]  # the last job alone is no array
    sbatch = open(glob.glob(os.path.join(d, "launch", "*", "logs", "12_submission.sh"))[0]).read()
    assert "#SBATCH --partition=gpu" in sbatch and "#SBATCH --cpus-per-task=4" in sbatch and "#SBATCH --time=30" in sbatch
    manifest = json.load(open(glob.glob(os.path.join(d, "launch", "*", "manifest.json"))[0]))
    assert len(manifest["jobs"]) == 7 and manifest["jobs"][0]["genotype"] == "{}"

    # All seven are queued or running: launching again submits nothing.
    code, out = run(["study", "launch", d, "--slurm"])
    assert code == 0 and "nothing to launch" in out and len(slurm.read_submissions(d)) == 7

    # Array 12 ended: task 12_0 wrote its result, 12_1 and 12_2 died without one. Only those two go again.
    mocked_slurm.set_job_state("12", "COMPLETED", array=3)
    first = subs[0]
    write_result(d, first["job"], first["arch"], first["task"], first["seed"], {"best_acc": 0.5})
    code, out = run(["study", "launch", d, "--slurm", "--array-limit", "3"])
    assert code == 0, out
    assert out.splitlines()[0] == "ingested 1 result files (0 already recorded, 0 left in place)"
    again = slurm.read_submissions(d)[7:]
    assert sorted(s["job"] for s in again) == sorted([subs[1]["job"], subs[2]["job"]])
    assert [s["cluster_id"] for s in again] == ["15_0", "15_1"] and {s["attempt"] for s in again} == {2}


def slow_or_quick_task(directory, job, threads=None):
    """A stand-in for training: writes a result file at once, or, for arch a1, once a flag file exists."""
    while job["arch"] == "a1" and not os.path.exists(os.path.join(directory, "go")):
        time.sleep(0.05)
    write_result(directory, job["id"], job["arch"], job["task"], job["seed"], {"best_acc": 0.1 * job["id"]})
    return job["id"]


def test_launch_with_submitits_local_executor(tmp_path):
    pytest.importorskip("submitit")
    import cloudpickle

    store = make_study(tmp_path, archs=2, tasks=("rotation",))
    d = str(tmp_path)
    options = slurm.LaunchOptions(executor="local", time_min=2, array_limit=1)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the task runs in submitit's own processes
    try:
        first = slurm.launch(d, options, task_fn=slow_or_quick_task, log=lambda m: None)
        assert len(first.submitted) == 2
        by_arch = {j.arch: h for j, h in zip(first.jobs, first.submitted)}
        assert by_arch["a0"].result() == store.find("a0", "rotation", 1)
        again = slurm.launch(d, options, task_fn=slow_or_quick_task, log=lambda m: None)
        assert again.jobs == [] and again.alive_skipped == 1  # a0 ingested, a1 still running
        open(os.path.join(d, "go"), "w").close()
        by_arch["a1"].result()
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert ingest(d).recorded == 1
    assert sorted(r["arch"] for r in store.results()) == ["a0", "a1"]
    assert not os.path.exists(os.path.join(d, "study.sqlite-journal"))


@pytest.mark.slow
def test_an_array_task_trains_a_real_job_without_the_store(tmp_path, monkeypatch):
    """The array task's function trains a tiny real job and writes a result file that ingest records."""
    from unnas.study.worker import init_study

    cfg = {"seed_everything": 0,
           "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "enable_checkpointing": False,
                       "limit_train_batches": 1, "log_every_n_steps": 1},
           "model": {"class_path": "unnas.modules.ArchTraining",
                     "init_args": {"task": {"class_path": "pretext_tasks.Rotation"}, "genotype": "darts_v2",
                                   "space": {"class_path": "unnas.spaces.DartsSpace",
                                             "init_args": {"channels": 4, "layers": 3}}, "precise_bn_samples": 8}},
           "data": {"source": {"class_path": "unnas.data.Generated",
                               "init_args": {"train_size": 8, "test_size": 8, "num_classes": 4}}, "batch_size": 8}}
    (tmp_path / "rotation.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({"tasks": {"rotation": "rotation.yaml"}}))
    d = str(tmp_path / "s")
    store = init_study(d, archs="sample:1:0", tasks=["rotation"], seeds=[1], config=str(tmp_path / "study.yaml"))
    job = slurm.open_jobs(store, retry_failed=False)[0]

    def no_store(*args, **kwargs):
        raise AssertionError("an array task opened the study store")

    monkeypatch.setattr(Store, "_connect", no_store)
    out = slurm.run_task(d, {**job.__dict__, "attempts": 1}, threads=1)
    monkeypatch.undo()
    assert out["job"] == job.id and 0.0 <= out["best_acc"] <= 1.0
    assert ingest(d).recorded == 1 and store.results()[0]["best_acc"] == out["best_acc"]
