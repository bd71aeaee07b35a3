"""A whole study on generated images: init, work (two worker processes), status, report."""

import io
import json
import os
import subprocess
import sys

import pytest
import yaml

from unnas.cli import main


def tiny_training_config(task: dict) -> dict:
    return {
        "seed_everything": 0,
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "enable_checkpointing": False,
                    "limit_train_batches": 2, "log_every_n_steps": 1},
        "model": {"class_path": "unnas.modules.ArchTraining",
                  "init_args": {"task": task, "genotype": "darts_v2", "space": {"class_path": "unnas.spaces.DartsSpace", "init_args": {"channels": 4, "layers": 3}}, "precise_bn_samples": 8}},
        "data": {"source": {"class_path": "unnas.data.Generated",
                            "init_args": {"train_size": 16, "test_size": 8, "num_classes": 4}},
                 "batch_size": 8},
    }


@pytest.fixture
def study_config(tmp_path):
    tasks = {"supervised": {"class_path": "pretext_tasks.Supervised", "init_args": {"num_classes": 4}},
             "rotation": {"class_path": "pretext_tasks.Rotation"}}
    for name, task in tasks.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(tiny_training_config(task)))
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"tasks": {n: f"{n}.yaml" for n in tasks}}))
    return str(path)


def run(argv):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()


@pytest.mark.slow
def test_three_architectures_two_objectives_end_to_end(tmp_path, study_config):
    study = str(tmp_path / "study")
    code, out = run(["study", "init", study, "--archs", "sample:3:1", "--tasks", "supervised,rotation", "--seeds", "1",
                     "--config", study_config])
    assert code == 0 and "6 jobs" in out
    env = {**os.environ, "WANDB_MODE": "disabled"}
    proc = subprocess.run([sys.executable, "-m", "unnas", "study", "work", study, "--workers", "2", "--threads", "1"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, status = run(["study", "status", study])
    assert "[6/6 done, 0 running, 0 failed, 0 left" in status
    from unnas.study.store import Store

    results = Store.open(study).results()
    assert sorted((r["arch"], r["task"]) for r in results) == sorted(
        (f"s1-0000{i}", t) for i in range(3) for t in ("supervised", "rotation"))
    for r in results:
        assert 0.0 <= r["best_acc"] <= 1.0 and r["params"] > 0 and r["macs"] > 0 and r["wall_time_s"] > 0
        assert r["versions"]["torch"] and os.path.isfile(os.path.join(study, r["run_dir"], "metrics.csv"))
        assert r["threads"] == 1 and r["run_dir"].endswith("attempt1")
        assert r["machine"]["cpu"] and r["machine"]["torch_cpu_capability"]  # what the result reproduces on
    code, out = run(["study", "report", study, "--out", str(tmp_path / "report"), "--n-boot", "50"])
    assert code == 0
    report = tmp_path / "report"
    assert (report / "report.md").exists() and "data:image/png;base64" in (report / "report.html").read_text()
    corr = json.loads((report / "correlations.json").read_text())
    assert "rotation" in json.dumps(corr)


def test_study_run_executes_one_named_job(tmp_path, study_config, monkeypatch, recwarn):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    study = str(tmp_path / "study")
    assert run(["study", "init", study, "--archs", "sample:2:1", "--tasks", "rotation", "--config", study_config])[0] == 0
    code, out = run(["study", "run", study, "--arch", "s1-00001", "--task", "rotation", "--seed", "1", "--threads", "1"])
    assert code == 0
    from unnas.study.store import Store

    results = Store.open(study).results()
    assert [(r["arch"], r["task"]) for r in results] == [("s1-00001", "rotation")]
    assert results[0]["threads"] == 1
    assert results[0]["run_dir"] == os.path.join("runs", "rotation", "s1-00001_seed1", "attempt1")
    assert os.path.isfile(os.path.join(study, results[0]["run_dir"], "metrics.csv"))
    assert not [w for w in recwarn if "exists and is not empty" in str(w.message)]
    code, out = run(["study", "run", study, "--arch", "s1-00001", "--task", "rotation", "--seed", "1"])
    assert code == 0 and "was not run" in out  # done already: never twice
    code, _ = run(["study", "run", study, "--arch", "nope", "--task", "rotation", "--seed", "1"])
    assert code == 2


def test_training_stops_at_the_first_batch_once_the_lease_is_lost(tmp_path, study_config):
    from unnas.study.store import Store
    from unnas.study.worker import LeaseLost, init_study, train_job

    study = str(tmp_path / "study")
    init_study(study, archs="sample:1:1", tasks=["rotation"], seeds=[1], config=study_config,
               overrides={"trainer.max_epochs": 50, "trainer.limit_train_batches": None})
    job = Store.open(study).claim("w", 60)
    polls = []

    def held():
        polls.append(1)
        return len(polls) < 3

    with pytest.raises(LeaseLost, match="another worker took over"):
        train_job(study, job, renew=held)
    assert len(polls) == 3  # polled after every batch, stopped at the first False


def test_study_errors_are_one_line(tmp_path, capsys, study_config):
    assert run(["study", "status", str(tmp_path / "none")])[0] == 2
    assert "no study in" in capsys.readouterr().err
    assert run(["study", "init", str(tmp_path / "s"), "--config", study_config, "--tasks", "jigsaw"])[0] == 2
    assert "no training config for jigsaw" in capsys.readouterr().err


def test_report_from_a_wandb_sweep(tmp_path, monkeypatch):
    """`study report --wandb` reads (arch, task, seed) from run configs and best_acc from run summaries."""
    import wandb

    class FakeRun:
        def __init__(self, arch, task, seed, acc):
            self.config = {"arch": arch, "task": task, "seed": seed}
            self.summary = {"best_acc": acc} if acc is not None else {}
            self.state = "finished" if acc is not None else "crashed"

    class FakeApi:
        def runs(self, path, filters=None, **kwargs):
            assert path == "me/proj" and filters == {"sweep": "abc123"}
            runs = [FakeRun(f"a{i}", t, 1, 0.5 + 0.01 * i + (0.001 * i if t == "rotation" else 0))
                    for i in range(5) for t in ("supervised", "rotation")]
            runs.append(FakeRun("a9", "rotation", 1, None))  # crashed run: no summary, ignored
            return iter(runs)

    monkeypatch.setattr(wandb, "Api", FakeApi)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    code, out = run(["study", "report", "--wandb", "me/proj/abc123", "--out", str(tmp_path / "r"), "--n-boot", "20"])
    assert code == 0
    corr = json.loads((tmp_path / "r" / "correlations.json").read_text())
    row = [c for c in corr["correlations"] if c["x"] == "supervised" and c["y"] == "rotation"][0]
    assert row["n"] == 5  # the crashed run without a summary is left out
    assert row["spearman"]["value"] == pytest.approx(1.0)  # rotation ranks the five exactly as supervised
