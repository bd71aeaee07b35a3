"""Several study jobs per device: `study work --workers K` spreads its workers over the visible GPUs (all of them on
one GPU), and `study launch --tasks-per-gpu K` packs K study jobs into each array task, run at once."""

import glob
import io
import os

from study_helpers import make_study
from unnas.cli import main
from unnas.study import slurm, worker
from unnas.study.result_files import ingest, write_result


def run(argv):
    out = io.StringIO()
    return main(argv, out=out), out.getvalue()


def test_workers_share_one_gpu_and_spread_round_robin_over_several(monkeypatch):
    env = {"OMP_NUM_THREADS": "2"}
    assert worker.worker_env(env, 3, ["0"]) is env  # one GPU: every worker uses it
    assert worker.worker_env(env, 3, []) is env
    assert [worker.worker_env(env, i, ["2", "5"])["CUDA_VISIBLE_DEVICES"] for i in range(4)] == ["2", "5", "2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    assert worker.visible_gpus() == ["1", "3"]


def test_spawned_workers_get_their_gpu_and_threads(monkeypatch, tmp_path):
    seen = []

    class Proc:
        pid = 1

        def __init__(self, cmd, env):
            seen.append((cmd, env))

        def wait(self):
            return 0

        def poll(self):
            return 0

    monkeypatch.setattr(worker.subprocess, "Popen", Proc)
    monkeypatch.setattr(worker, "visible_gpus", lambda: ["0", "1"])
    assert worker.spawn_workers(str(tmp_path), 4, None, 60.0, 3, log=lambda m: None) == 0
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in seen] == ["0", "1", "0", "1"]
    assert all(env["OMP_NUM_THREADS"] == "3" and cmd[cmd.index("--threads") + 1] == "3" for cmd, env in seen)


def test_launch_packs_k_jobs_per_array_task(tmp_path, mocked_slurm):
    make_study(tmp_path, archs=5, tasks=("rotation",))
    d = str(tmp_path)
    code, out = run(["study", "launch", d, "--slurm", "--gpus", "1", "--cpus", "8", "--tasks-per-gpu", "2"])
    assert code == 0, out
    subs = slurm.read_submissions(d)
    assert [s["cluster_id"] for s in subs] == ["12_0", "12_0", "12_1", "12_1", "12_2"]
    assert len({s["job"] for s in subs}) == 5 and "(3 tasks, 2 jobs per task)" in out
    sbatch = open(glob.glob(os.path.join(d, "launch", "*", "logs", "12_submission.sh"))[0]).read()
    assert "#SBATCH --array=0-2" in sbatch and "#SBATCH --gpus-per-node=1" in sbatch
    code, out = run(["study", "launch", d, "--slurm"])
    assert code == 0 and "nothing to launch" in out  # every pack's jobs are alive with their task


def test_tasks_per_gpu_must_be_positive(tmp_path, capsys):
    make_study(tmp_path)
    code, _ = run(["study", "launch", str(tmp_path), "--slurm", "--tasks-per-gpu", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "--tasks-per-gpu must be at least 1" in err and len(err.strip().splitlines()) == 1


def quick_task(directory, job, threads=None):
    """A stand-in for training (run in a child process): a result file, or a failure for arch a1."""
    if job["arch"] == "a1":
        raise RuntimeError("out of memory")
    write_result(directory, job["id"], job["arch"], job["task"], job["seed"], {"best_acc": 0.5, "threads": threads})
    return {"job": job["id"], "threads": threads}


def test_a_packed_task_runs_its_jobs_in_processes_and_a_failure_leaves_the_others(tmp_path):
    store = make_study(tmp_path, archs=3, tasks=("rotation",))
    jobs = [{"id": store.find(f"a{i}", "rotation", 1), "arch": f"a{i}", "task": "rotation", "seed": 1}
            for i in range(3)]
    out = slurm.run_packed(str(tmp_path), jobs, threads=6, task_fn=quick_task)
    assert out[0] == {"job": jobs[0]["id"], "threads": 2} and out[2]["threads"] == 2
    assert out[1] == {"job": jobs[1]["id"], "error": "RuntimeError: out of memory"}
    assert ingest(str(tmp_path)).recorded == 2
