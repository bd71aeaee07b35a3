"""A study launched on a real one-node SLURM cluster (tests/slurm/start.sh): Debian's slurmctld and slurmd with
munge, no accounting database (so no ``sacct``), ``MaxArraySize=5``. The study's six tiny jobs go out as job
arrays through submitit, the real scheduler throttles them with ``--parallel``, one array task is cancelled with
``scancel`` while it trains, a second ``launch`` submits only that job again, and the ingested results equal
those of the same study run by ``unnas study work``."""

import io
import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml

if shutil.which("slurmctld", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])) is None:
    pytest.skip("SLURM is not installed here (no slurmctld): apt-get install slurm-wlm munge", allow_module_level=True)
pytest.importorskip("submitit")

from unnas.cli import main  # noqa: E402
from unnas.study import slurm  # noqa: E402
from unnas.study.store import Store  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STATE = os.environ.get("UNNAS_SLURM_DIR", "/tmp/unnas-slurm")
PARTITION = "debug"
MAX_ARRAY = 5
WAIT_S = 240
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """The one-node cluster, started by tests/slurm/start.sh (and stopped again if this module started it)."""
    env = {**os.environ, "UNNAS_SLURM_DIR": STATE, "UNNAS_SLURM_MAX_ARRAY": str(MAX_ARRAY)}
    proc = subprocess.run([os.path.join(HERE, "start.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    started_here = "already running" not in proc.stderr
    conf = os.path.join(STATE, "slurm.conf")
    assert proc.stdout.strip() == f"SLURM_CONF={conf}"
    again = subprocess.run([os.path.join(HERE, "start.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "already running" in again.stderr, again.stderr  # a second start: a no-op
    yield conf
    if started_here:
        subprocess.run([os.path.join(HERE, "stop.sh")], env=env, capture_output=True, timeout=120)


@pytest.fixture
def slurm_env(cluster, monkeypatch):
    """This process's environment as sbatch passes it to the tasks: this checkout's code, one torch thread."""
    monkeypatch.setenv("SLURM_CONF", cluster)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    assert f"MaxArraySize            = {MAX_ARRAY}" in out, "the running cluster has another MaxArraySize"
    return cluster


def tiny_config(task: dict) -> dict:
    return {"seed_everything": 0,
            "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "enable_checkpointing": False,
                        "limit_train_batches": 2, "log_every_n_steps": 1},
            "model": {"class_path": "unnas.modules.ArchTraining",
                      "init_args": {"task": task, "genotype": "darts_v2", "precise_bn_samples": 8,
                                    "space": {"class_path": "unnas.spaces.DartsSpace",
                                              "init_args": {"channels": 4, "layers": 3}}}},
            "data": {"source": {"class_path": "unnas.data.Generated",
                                "init_args": {"train_size": 16, "test_size": 8, "num_classes": 4}},
                     "batch_size": 8}}


def init_study(root, name) -> str:
    """Three sampled DARTS architectures x supervised and rotation x seed 1: six jobs, more than MaxArraySize."""
    tasks = {"supervised": {"class_path": "pretext_tasks.Supervised", "init_args": {"num_classes": 4}},
             "rotation": {"class_path": "pretext_tasks.Rotation"}}
    for task, spec in tasks.items():
        (root / f"{task}.yaml").write_text(yaml.safe_dump(tiny_config(spec)))
    (root / "study.yaml").write_text(yaml.safe_dump({"tasks": {t: f"{t}.yaml" for t in tasks}}))
    directory = str(root / name)
    code, out = run(["study", "init", directory, "--archs", "sample:3:1", "--tasks", "supervised,rotation",
                     "--seeds", "1", "--config", str(root / "study.yaml")])
    assert code == 0 and "6 jobs" in out, out
    return directory


def run(argv):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


def queue(ids):
    """``{task id: (state, reason)}`` of the given jobs/array tasks that squeue still lists."""
    out = subprocess.run(["squeue", "--noheader", "--array", "--format", "%i %t %r"], capture_output=True, text=True,
                         check=True).stdout
    rows = (line.split(None, 2) for line in out.splitlines() if line.strip())
    return {r[0]: (r[1], r[2] if len(r) > 2 else "") for r in rows if r[0] in ids}


def watch(ids, on_start=None):
    """Poll squeue until none of *ids* is listed; returns every state seen. *on_start(id)* is called once, for the
    first task seen pending and then running (so within a poll of its start)."""
    seen, pending, called, deadline = [], set(), False, time.time() + WAIT_S
    while time.time() < deadline:
        now = queue(ids)
        if not now:
            return seen
        seen.append(now)
        started = sorted(i for i, (state, _) in now.items() if state == "R" and i in pending)
        if on_start and started and not called:
            on_start(started[0])
            called = True
        pending |= {i for i, (state, _) in now.items() if state == "PD"}
        time.sleep(0.3)
    pytest.fail(f"SLURM tasks {sorted(queue(ids))} still queued after {WAIT_S} s; see {STATE}/slurmctld.log")


def test_a_study_on_a_real_slurm_cluster(tmp_path, slurm_env):
    on_slurm = init_study(tmp_path, "on_slurm")
    by_work = init_study(tmp_path, "by_work")
    work_log = open(tmp_path / "work.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "unnas", "study", "work", by_work, "--workers", "1",
                               "--threads", "1"], stdout=work_log, stderr=subprocess.STDOUT)
    store = Store.open(on_slurm)
    launch = ["study", "launch", on_slurm, "--slurm", "--partition", PARTITION, "--parallel", "1", "--cpus", "1",
              "--time", "10"]

    # Six jobs, MaxArraySize 5, the default --array-limit 1000: an array of five tasks, then one job alone.
    code, out = run(launch)
    assert code == 0, out
    assert f"arrays of at most {MAX_ARRAY} tasks: the cluster's MaxArraySize ({MAX_ARRAY})" in out
    subs = slurm.read_submissions(on_slurm)
    ids = [s["cluster_id"] for s in subs]
    array = ids[0].split("_")[0]
    assert ids[:5] == [f"{array}_{i}" for i in range(5)] and "_" not in ids[5] and len(ids) == 6, ids
    assert sorted(s["job"] for s in subs) == sorted(range(1, 7)) and {s["attempt"] for s in subs} == {1}

    # Everything is queued or running: a second launch submits nothing (sacct is disabled; squeue answers).
    code, out = run(launch)
    assert code == 0 and "nothing to launch" in out and "alive (6)" in out, out
    assert len(slurm.read_submissions(on_slurm)) == 6

    # The first task seen to start is cancelled at once, while it trains.
    cancelled = []

    def cancel(task_id):
        subprocess.run(["scancel", task_id], check=True)
        cancelled.append(task_id)

    seen = watch(set(ids), on_start=cancel)
    victim = next(s for s in subs if s["cluster_id"] == cancelled[0])
    array_running = [sum(1 for i, (st, _) in now.items() if i.startswith(f"{array}_") and st == "R") for now in seen]
    assert max(array_running) == 1  # --parallel 1: never two tasks of the array at once
    assert any(reason == "JobArrayTaskLimit" for now in seen for _, reason in now.values())  # held back by %1

    code, out = run(["study", "ingest", on_slurm])
    assert code == 0 and out.startswith("ingested 5 result files (0 already recorded, 0 left in place)"), out
    assert not os.path.exists(os.path.join(on_slurm, "results", f"{victim['job']}.json"))

    # A second launch submits the cancelled job alone, as its second attempt.
    code, out = run(launch)
    assert code == 0, out
    again = slurm.read_submissions(on_slurm)[6:]
    assert [(s["job"], s["attempt"]) for s in again] == [(victim["job"], 2)], again
    watch({again[0]["cluster_id"]})
    code, out = run(["study", "ingest", on_slurm])
    assert code == 0 and out.startswith("ingested 1 result files (5 already recorded"), out
    code, out = run(launch)
    assert code == 0 and "nothing to launch" in out and len(slurm.read_submissions(on_slurm)) == 7

    # Every job done once; the same accuracies as `study work` on this machine.
    code, status = run(["study", "status", on_slurm])
    assert "[6/6 done, 0 running, 0 failed, 0 left" in status, status
    results = store.results()
    keys = [(r["arch"], r["task"], r["seed"]) for r in results]
    assert len(keys) == len(set(keys)) == 6
    assert {r["attempt"] for r in results if (r["arch"], r["task"]) == (victim["arch"], victim["task"])} == {2}
    assert worker.wait(timeout=WAIT_S) == 0, (tmp_path / "work.log").read_text()[-2000:]
    work_log.close()
    local = {(r["arch"], r["task"], r["seed"]): r["best_acc"] for r in Store.open(by_work).results()}
    assert {k: r["best_acc"] for k, r in zip(keys, results)} == local
