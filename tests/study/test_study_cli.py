"""`unnas study init | add | work | status | run` on bad input, growing a study, overrides and W&B runs (no training)."""

import io
import os
import sys
import types

import pytest
import yaml

from unnas.cli import main
from unnas.study import worker
from unnas.study.store import Store

from test_study_e2e import study_config  # noqa: F401 - the tiny two-objective study config
from test_study_init_checks import folder_config, image_folder  # noqa: F401 - the same on an ImageFolder

from study_helpers import assert_one_line


def run(argv):
    out = io.StringIO()
    code = main(argv, out=out)
    return code, out.getvalue()




def init(study, config, *extra):
    return run(["study", "init", study, "--archs", "sample:2:1", "--tasks", "supervised", "--seeds", "1",
                "--config", config, *extra])


# ------------------------------------------------------------------------------------------- init
def test_init_checks_the_data_root(tmp_path, capsys, folder_config):  # noqa: F811
    study = str(tmp_path / "s")
    assert_one_line(capsys, init(study, folder_config, "--data-root", str(tmp_path / "nonexistent"))[0],
                   "--data-root", "does not exist")
    (tmp_path / "file").write_text("x")
    assert_one_line(capsys, init(study, folder_config, "--data-root", str(tmp_path / "file"))[0], "is not a folder")
    assert not os.path.exists(os.path.join(study, "study.sqlite"))
    data = image_folder(tmp_path / "data")
    assert init(study, folder_config, "--data-root", data)[0] == 0
    frozen = yaml.safe_load(open(os.path.join(study, "configs", "supervised.yaml")))
    assert frozen["data"]["source"]["init_args"]["root"] == data


def test_a_failed_init_leaves_no_study_behind(tmp_path, capsys, study_config):  # noqa: F811
    study = str(tmp_path / "s")
    code, _ = run(["study", "init", study, "--archs", "unnas500:9999", "--config", study_config, "--tasks", "supervised"])
    assert_one_line(capsys, code, "unnas500:9999", "more than once")
    assert not os.path.exists(os.path.join(study, "study.sqlite"))
    code, _ = run(["study", "init", study, "--archs", "sample:2:1", "--config", study_config, "--tasks", "supervised",
                   "--seeds", "1,1"])
    assert_one_line(capsys, code, "seed 1 is listed twice")
    assert init(study, study_config)[0] == 0  # the folder is free for a good init
    assert Store.open(study).counts() == {"supervised": {"pending": 2}}


def test_task_names_cannot_leave_the_study_folder(tmp_path, capsys, study_config):  # noqa: F811
    config = tmp_path / "evil.yaml"
    config.write_text(yaml.safe_dump({"tasks": {"../x": "supervised.yaml"}}))
    code, _ = run(["study", "init", str(tmp_path / "s"), "--archs", "sample:1:1", "--tasks", "../x", "--config",
                   str(config)])
    assert_one_line(capsys, code, "'../x' is not a simple name")
    assert not (tmp_path / "s" / "x.yaml").exists() and not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--seeds", "abc"], "--seeds takes comma-separated integers"),
    (["--set", "trainer.max_epochs"], "expected KEY=VALUE"),
    (["--set", "trainer.nope.deep=1"], "nearest existing key: trainer"),
    (["--set", "trainer.max_epochs.x=1"], "trainer.max_epochs is a value"),
])
def test_bad_init_arguments_are_one_line(tmp_path, capsys, study_config, argv, needle):  # noqa: F811
    study = str(tmp_path / "s")
    assert_one_line(capsys, init(study, study_config, *argv)[0], needle)
    assert not os.path.exists(os.path.join(study, "study.sqlite"))


def test_init_into_a_file_is_one_line(tmp_path, capsys, study_config):  # noqa: F811
    (tmp_path / "f").write_text("x")
    assert_one_line(capsys, init(str(tmp_path / "f"), study_config)[0], "is a file")


def test_overrides_reach_every_frozen_config_and_the_meta(tmp_path, study_config):  # noqa: F811
    study = str(tmp_path / "s")
    code, _ = run(["study", "init", study, "--archs", "sample:1:1", "--tasks", "supervised,rotation", "--config",
                   study_config, "--set", "trainer.max_epochs=2", "--set", "data.source.init_args.train_size=400",
                   "--set", "trainer.gradient_clip_val=0.5"])
    assert code == 0
    for task in ("supervised", "rotation"):
        cfg = yaml.safe_load(open(os.path.join(study, "configs", f"{task}.yaml")))
        assert cfg["trainer"]["max_epochs"] == 2 and cfg["trainer"]["gradient_clip_val"] == 0.5
        assert cfg["data"]["source"]["init_args"]["train_size"] == 400
        assert cfg["trainer"]["limit_train_batches"] == 2  # the rest as in the recipe
    assert Store.open(study).meta()["overrides"] == {"trainer.max_epochs": 2, "data.source.init_args.train_size": 400,
                                                     "trainer.gradient_clip_val": 0.5}


# ------------------------------------------------------------------------------------------- add
def test_add_seeds_objectives_and_architectures(tmp_path, capsys, folder_config):  # noqa: F811
    study, data = str(tmp_path / "s"), image_folder(tmp_path / "data")
    assert init(study, folder_config, "--set", "trainer.max_epochs=3", "--data-root", data)[0] == 0
    store = Store.open(study)
    done = store.claim("w", 60)
    store.finish(done, "w", {"best_acc": 0.5})
    code, out = run(["study", "add", study, "--seeds", "1,2"])
    assert code == 0 and "added 2 jobs" in out
    code, out = run(["study", "add", study, "--tasks", "rotation"])
    assert code == 0 and "added 4 jobs" in out
    rotation = yaml.safe_load(open(os.path.join(study, "configs", "rotation.yaml")))
    assert rotation["model"]["init_args"]["task"]["class_path"] == "pretext_tasks.Rotation"
    assert rotation["trainer"]["max_epochs"] == 3 and rotation["data"]["source"]["init_args"]["root"] == data
    code, out = run(["study", "add", study, "--archs", "sample:3:1"])  # its first two are in the study already
    assert code == 0 and "added 4 jobs" in out
    counts = store.counts()
    assert counts == {"supervised": {"done": 1, "pending": 5}, "rotation": {"pending": 6}}
    meta = store.meta()
    assert meta["tasks"] == ["supervised", "rotation"] and meta["seeds"] == [1, 2]
    assert store.results()[0]["best_acc"] == 0.5  # finished work is kept
    assert run(["study", "add", study, "--seeds", "2"])[1].startswith("added 0 jobs")
    assert_one_line(capsys, run(["study", "add", study, "--tasks", "jigsaw"])[0], "no training config for jigsaw")
    assert_one_line(capsys, run(["study", "add", study])[0], "needs --archs, --objectives, --rankers or --seeds")


def test_objectives_and_rankers_name_the_tasks_and_tasks_is_an_alias(tmp_path, capsys, study_config):  # noqa: F811
    study = str(tmp_path / "s")
    code, _ = run(["study", "init", study, "--archs", "sample:2:1", "--objectives", "supervised", "--rankers", "params",
                   "--config", study_config])
    assert code == 0 and Store.open(study).meta()["tasks"] == ["supervised", "params"]
    assert run(["study", "add", study, "--tasks", "rotation"])[0] == 0  # the older name of --objectives
    assert Store.open(study).meta()["tasks"] == ["supervised", "params", "rotation"]
    code, out = run(["study", "reset", study, "--rankers", "params"])
    assert code == 0 and "reset 0 jobs of params" in out


def test_a_registered_objective_without_a_recipe_is_one_line_naming_the_fix(tmp_path, capsys, study_config):  # noqa: F811
    from pretext_tasks.registry import is_objective

    assert is_objective("random_labels")
    code, _ = init(str(tmp_path / "s"), study_config, "--objectives", "supervised,random_labels")
    assert_one_line(capsys, code, "no training config for random_labels", "add a recipe for random_labels")


def test_reset_requeues_the_finished_and_failed_jobs_of_an_objective_and_keeps_the_rest(tmp_path, capsys, folder_config):  # noqa: F811
    study = str(tmp_path / "s")
    assert init(study, folder_config, "--data-root", image_folder(tmp_path / "data"))[0] == 0
    assert run(["study", "add", study, "--tasks", "rotation", "--seeds", "1,2"])[0] == 0
    store = Store.open(study)
    jobs = [store.claim("w", 60) for _ in range(8)]
    for job in jobs[:6]:
        store.finish(job, "w", {"best_acc": job.id / 10})
    store.fail(jobs[6], "w", "boom")  # jobs[7] stays running
    before = {(r["arch"], r["task"], r["seed"]): r["best_acc"] for r in store.results()}
    code, out = run(["study", "reset", study, "--tasks", "rotation", "--seeds", "2"])
    reset_now = [j for j in jobs[:7] if j.task == "rotation" and j.seed == 2]
    assert code == 0 and f"reset {len(reset_now)} jobs of rotation" in out
    after = {(r["arch"], r["task"], r["seed"]): r["best_acc"] for r in store.results()}
    assert after == {k: v for k, v in before.items() if not (k[1] == "rotation" and k[2] == 2)}
    assert all((f["task"], f["seed"]) != ("rotation", 2) for f in store.failures())
    assert [r["id"] for r in store.running()] == [jobs[7].id]
    again = store.claim("w2", 60)  # a reset job is claimed as a new attempt
    assert again is not None and (again.task, again.seed) == ("rotation", 2) and again.attempts == 2
    assert_one_line(capsys, run(["study", "reset", study, "--tasks", "jigsaw"])[0], "no objective jigsaw",
                   "supervised")
    assert_one_line(capsys, run(["study", "reset", study, "--tasks", "rotation", "--seeds", "7"])[0], "no seed 7")


# ------------------------------------------------------------------------------------------- work, status
@pytest.mark.parametrize("argv, needle", [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--lease", "-5"], "--lease must be at least 20 s"),
    (["--lease", "8"], "--lease must be at least 20 s"),
    (["--lease", "inf"], "--lease must be at most 604800 s (7 days"),
    (["--lease", "1e9"], "--lease must be at most 604800 s (7 days"),
    (["--lease", "nan"], "--lease must be at least 20 s"),
    (["--max-jobs", "0"], "--max-jobs must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"),
])
def test_bad_work_arguments_are_one_line(tmp_path, capsys, study_config, argv, needle):  # noqa: F811
    study = str(tmp_path / "s")
    assert init(study, study_config)[0] == 0
    assert_one_line(capsys, run(["study", "work", study, *argv])[0], needle)
    assert Store.open(study).counts() == {"supervised": {"pending": 2}}


@pytest.mark.parametrize("damage", ["random", "truncated"])
def test_status_of_a_damaged_database_is_one_line(tmp_path, capsys, study_config, damage):  # noqa: F811
    study = str(tmp_path / "s")
    assert init(study, study_config)[0] == 0
    path = os.path.join(study, "study.sqlite")
    if damage == "random":
        with open(path, "wb") as f:
            f.write(os.urandom(8192))
    else:
        data = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(data[:len(data) // 3])
    for cmd in (["status", study], ["work", study, "--threads", "1"], ["add", study, "--seeds", "5"]):
        assert_one_line(capsys, run(["study", *cmd])[0], f"{path} is not a study database")


# ------------------------------------------------------------------------------------------- W&B
def test_study_run_logs_one_named_tagged_run_under_the_study_folder(tmp_path, study_config, monkeypatch):  # noqa: F811
    study = str(tmp_path / "s")
    assert init(study, study_config)[0] == 0
    calls = {}

    class FakeRun:
        summary = {}

        def log(self, data):
            calls["log"] = data

        def finish(self):
            calls["finished"] = True

    def fake_init(**kwargs):
        calls["init"] = kwargs
        return FakeRun()

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=fake_init))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr(worker, "train_job", lambda d, job, renew=None: {"best_acc": 0.25, "params": 10, "threads": 1})
    code, out = run(["study", "run", study, "--arch", "s1-00001", "--task", "supervised", "--seed", "1"])
    assert code == 0  # --task: the older name of --objective, which W&B sweep files pass
    init_kwargs = calls["init"]
    assert init_kwargs["dir"] == os.path.abspath(study)  # W&B writes DIR/wandb
    assert init_kwargs["name"] == "supervised-s1-00001-seed1" and init_kwargs["group"] == "supervised"
    assert set(init_kwargs["tags"]) == {"darts", "supervised", "s1-00001", "seed1"}
    assert calls["log"]["best_acc"] == 0.25 and calls["finished"]
    assert [r["arch"] for r in Store.open(study).results()] == ["s1-00001"]
