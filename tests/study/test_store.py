"""The job store and workers: claims, leases, crashes and concurrency (with a fake, fast training)."""

import json
import multiprocessing as mp
import os
import time

import pytest

from unnas.study.store import Store, StudyError
from unnas.study.worker import resolve_archs, work

ARCHS = [(f"a{i}", json.dumps({"i": i})) for i in range(10)]


def make(tmp_path, archs=ARCHS, tasks=("supervised", "rotation"), seeds=(1, 2)):
    return Store.create(str(tmp_path / "study"), archs, list(tasks), list(seeds), meta={"note": "test"})


def fake_job(directory, job, renew=None):
    """Stands in for training: records who ran what, renews once, returns a result."""
    with open(os.path.join(directory, "executions.log"), "a") as f:
        f.write(f"{job.id} {os.getpid()}\n")
    time.sleep(0.02)
    assert renew is None or renew()
    return {"best_acc": 0.5 + job.id / 1000, "wall_time_s": 0.02}


def test_jobs_are_the_product_of_archs_objectives_and_seeds(tmp_path):
    store = make(tmp_path)
    assert store.counts() == {"supervised": {"pending": 20}, "rotation": {"pending": 20}}
    assert store.meta() == {"note": "test"}
    with pytest.raises(StudyError, match="already holds a study"):
        make(tmp_path)
    with pytest.raises(StudyError, match="no study in"):
        Store.open(str(tmp_path / "elsewhere"))


def test_claim_finish_and_results(tmp_path):
    store = make(tmp_path, archs=ARCHS[:1], tasks=("rotation",), seeds=(3,))
    job = store.claim("w1", lease_s=60)
    assert (job.arch, job.task, job.seed, job.attempts) == ("a0", "rotation", 3, 1)
    assert store.claim("w2", lease_s=60) is None  # the only job is leased
    assert not store.finish(job, "w2", {"best_acc": 0.1})  # only the lease holder records
    assert store.finish(job, "w1", {"best_acc": 0.7})
    assert store.results() == [{"arch": "a0", "task": "rotation", "seed": 3, "best_acc": 0.7}]
    assert not store.finish(job, "w1", {"best_acc": 0.9})  # never twice


def test_an_expired_lease_is_claimed_again_and_the_old_holder_cannot_record(tmp_path):
    store = make(tmp_path, archs=ARCHS[:1], tasks=("rotation",), seeds=(1,))
    job = store.claim("dead", lease_s=0.05)
    time.sleep(0.1)
    assert store.counts()["rotation"] == {"stale": 1}
    again = store.claim("alive", lease_s=60)
    assert again.id == job.id and again.attempts == 2
    assert not store.renew(job, "dead", 60)
    assert not store.finish(job, "dead", {"best_acc": 0.1})
    assert store.finish(again, "alive", {"best_acc": 0.2})


def test_failed_jobs_keep_their_error_and_can_be_retried(tmp_path):
    store = make(tmp_path, archs=ARCHS[:2], tasks=("rotation",), seeds=(1,))

    def boom(directory, job, renew=None):
        if job.arch == "a1":
            raise RuntimeError("out of memory")
        return {"best_acc": 0.4}

    assert work(store.directory, run_job=boom, log=lambda m: None).recorded == 1
    failures = store.failures()
    assert [(f["arch"], f["attempts"]) for f in failures] == [("a1", 1)]
    assert "out of memory" in failures[0]["error"]
    assert store.retry_failed() == 1
    assert work(store.directory, run_job=fake_job, log=lambda m: None).recorded == 1
    assert store.counts()["rotation"] == {"done": 2}


def _worker(directory, n=None):
    work(directory, max_jobs=n, lease_s=30, run_job=fake_job, log=lambda m: None)


def test_concurrent_workers_never_double_run_and_never_drop_a_job(tmp_path):
    store = make(tmp_path)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(store.directory,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    executed = [line.split()[0] for line in open(os.path.join(store.directory, "executions.log"))]
    assert sorted(executed, key=int) == [str(i) for i in range(1, 41)]  # each of the 40 jobs exactly once
    assert len({line.split()[1] for line in open(os.path.join(store.directory, "executions.log"))}) > 1
    assert store.counts() == {"supervised": {"done": 20}, "rotation": {"done": 20}}
    assert len(store.results()) == 40


def _dies_mid_job(directory):
    def die(directory, job, renew=None):
        os._exit(9)  # killed while training: no clean-up, no result

    work(directory, lease_s=0.5, run_job=die, log=lambda m: None)


def test_a_killed_workers_job_is_recovered(tmp_path):
    store = make(tmp_path, archs=ARCHS[:2], tasks=("rotation",), seeds=(1,))
    ctx = mp.get_context("fork")
    p = ctx.Process(target=_dies_mid_job, args=(store.directory,))
    p.start()
    p.join(30)
    assert p.exitcode == 9
    assert store.counts()["rotation"].get("running", 0) + store.counts()["rotation"].get("stale", 0) == 1
    time.sleep(0.6)  # the dead worker's lease runs out
    assert work(store.directory, lease_s=30, run_job=fake_job, log=lambda m: None).recorded == 2
    assert store.counts()["rotation"] == {"done": 2}
    recovered = [r for r in store.results() if r["arch"] == "a0"][0]
    assert recovered["best_acc"] > 0


def test_architecture_sets():
    assert len(resolve_archs("unnas500")) == 500
    every = resolve_archs("unnas500:24")
    assert len(every) == 24 and every[0][0] == "unnas500/00004"
    assert resolve_archs("sample:3:5") == resolve_archs("sample:3:5")
    assert [a for a, _ in resolve_archs("sample:3:5")] == ["s5-00000", "s5-00001", "s5-00002"]
    with pytest.raises(StudyError, match="unknown architecture set"):
        resolve_archs("nas101")


def test_architecture_file(tmp_path):
    from unnas.spaces.darts import get_genotype

    path = tmp_path / "archs.jsonl"
    path.write_text(json.dumps({"id": "mine", **get_genotype("darts_v2").to_dict()}) + "\ndarts_v1\n")
    archs = resolve_archs(str(path))
    assert [a for a, _ in archs] == ["mine", "darts_v1"]
    path.write_text("darts_v9\n")
    with pytest.raises(StudyError, match="line 1"):
        resolve_archs(str(path))


def test_a_study_that_cannot_be_made_leaves_no_database(tmp_path):
    d = str(tmp_path / "study")
    with pytest.raises(StudyError, match="architecture 'a0' is listed twice"):
        Store.create(d, [ARCHS[0], ARCHS[0]], ["rotation"], [1], meta={})
    with pytest.raises(StudyError, match="'../x' is not a simple name"):
        Store.create(d, ARCHS[:1], ["../x"], [1], meta={})
    assert not os.path.exists(os.path.join(d, "study.sqlite"))
    assert Store.create(d, ARCHS[:1], ["rotation"], [1], meta={}).counts() == {"rotation": {"pending": 1}}


def test_release_puts_a_held_job_back_without_counting_a_failure(tmp_path):
    store = make(tmp_path, archs=ARCHS[:1], tasks=("rotation",), seeds=(1,))
    job = store.claim("w1", lease_s=60)
    assert not store.release(job, "w2")  # only the holder gives it back
    assert store.release(job, "w1")
    assert store.counts()["rotation"] == {"pending": 1} and store.failures() == []
    assert store.claim("w2", lease_s=60).id == job.id


def test_add_creates_only_the_missing_jobs_and_refuses_a_changed_architecture(tmp_path):
    store = make(tmp_path, archs=ARCHS[:2], tasks=("rotation",), seeds=(1,))
    job = store.claim("w", 60)
    store.finish(job, "w", {"best_acc": 0.5})
    assert store.add(ARCHS[1:3], ["supervised"], [1, 2], meta={"note": "grown"}) == 3 * 2 * 2 - 2
    assert store.add(ARCHS[:3], ["rotation"], [2], meta={}) == 0
    assert store.counts() == {"rotation": {"done": 1, "pending": 5}, "supervised": {"pending": 6}}
    assert store.meta()["note"] == "grown"
    with pytest.raises(StudyError, match="'a0' is already in the study with another architecture"):
        store.add([("a0", json.dumps({"i": 99}))], [], [], meta={})


def test_a_file_that_is_not_a_study_database_is_named(tmp_path):
    d = tmp_path / "study"
    d.mkdir()
    (d / "study.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StudyError, match=r"study.sqlite is not a study database"):
        Store.open(str(d))
    (d / "study.sqlite").unlink()
    import sqlite3

    sqlite3.connect(str(d / "study.sqlite")).execute("CREATE TABLE other (x)").connection.commit()
    with pytest.raises(StudyError, match=r"is not a study database \(it lacks the tables archs, jobs, meta\)"):
        Store.open(str(d))
