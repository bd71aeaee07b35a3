"""The store against damaged and hostile input: result checksums (and stores made before them), rows that are not
JSON, results that name another job, and seeds a study cannot hold; each a one-line error, never a traceback."""

import glob
import hashlib
import io
import json
import os
import shutil
import sqlite3

import pytest

from unnas.cli import main
from unnas.study.result_files import ingest, write_result
from unnas.study.store import Store, StudyError

from study_helpers import make_study, one_line_error

CHECKSUM = "result_sha256"  # the column beside each result


def result_checksum(arch, task, seed, text):
    """What the store keeps: the SHA-256 of the job's identity and its result's JSON text."""
    return hashlib.sha256(json.dumps([arch, task, seed, text]).encode("utf-8")).hexdigest()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(ROOT, "docs", "results", "nb201-cpu-study", "study", "study.sqlite")


def make(tmp_path, archs=3, tasks=("supervised", "rotation"), seeds=(1,)):
    return make_study(tmp_path / "study", archs, tasks, seeds)


def columns(path):
    con = sqlite3.connect(path)
    try:
        return [r[1] for r in con.execute("PRAGMA table_info(jobs)")]
    finally:
        con.close()


def copy_of_shipped(tmp_path):
    """A copy of a study shipped in docs/results (made before the checksum column); the original is never opened."""
    if not os.path.isfile(SHIPPED):
        pytest.skip("the shipped study store is not in this checkout")
    folder = tmp_path / "shipped"
    folder.mkdir()
    shutil.copy(SHIPPED, folder / "study.sqlite")
    return Store.open(str(folder))


# ------------------------------------------------------------------------------------------- checksums
def test_a_changed_digit_in_the_file_passes_sqlites_check_but_not_the_checksum(tmp_path, capsys):
    store = make(tmp_path)
    job = store.claim("w", lease_s=60)
    assert store.finish(job, "w", {"best_acc": 0.123456789, "wall_time_s": 1.0})
    assert store.results()[0]["best_acc"] == 0.123456789
    raw = open(store.path, "rb").read()
    assert raw.count(b"0.123456789") == 1
    with open(store.path, "wb") as f:
        f.write(raw.replace(b"0.123456789", b"0.923456789"))
    con = sqlite3.connect(store.path)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    with pytest.raises(StudyError, match=f"job {job.id} \\(a0 supervised seed 1\\) does not match its checksum"):
        store.results()
    for command in ("status", "report"):
        argv = ["study", command, store.directory] + (["--out", str(tmp_path / "rep")] if command == "report" else [])
        err = one_line_error(argv, capsys)
        assert "does not match its checksum" in err and f"unnas study reset {store.directory} --objectives " \
               "supervised --seeds 1" in err


def test_a_changed_job_identity_breaks_the_checksum(tmp_path):
    store = make(tmp_path)
    job = store.claim("w", lease_s=60)
    assert store.finish(job, "w", {"best_acc": 0.5})
    con = sqlite3.connect(store.path)
    with con:
        con.execute("UPDATE jobs SET arch = 'a2', seed = 9 WHERE id = ?", (job.id,))  # moved to another job
    con.close()
    with pytest.raises(StudyError, match="does not match its checksum"):
        store.results()


def test_recorded_results_carry_the_checksum_of_their_text(tmp_path):
    store = make(tmp_path)
    job = store.claim("w", lease_s=60)
    assert store.finish(job, "w", {"best_acc": 0.5})
    assert store.record(store.find("a1", "rotation", 1), {"best_acc": 0.25})
    con = sqlite3.connect(store.path)
    rows = con.execute(f"SELECT arch, task, seed, result, {CHECKSUM} FROM jobs WHERE status = 'done'").fetchall()
    assert len(rows) == 2 and all(r[4] == result_checksum(*r[:4]) for r in rows)
    store.reset(["rotation"])
    assert con.execute(f"SELECT count(*) FROM jobs WHERE {CHECKSUM} IS NOT NULL").fetchone() == (1,)
    con.close()


def test_a_shipped_store_reads_as_before_and_gains_the_checksum_with_its_next_result(tmp_path, capsys):
    expected = []
    con = sqlite3.connect(f"file:{SHIPPED}?mode=ro", uri=True)
    try:
        for a, t, s, r in con.execute("SELECT arch, task, seed, result FROM jobs WHERE status = 'done' ORDER BY id"):
            expected.append({"arch": a, "task": t, "seed": s, **json.loads(r)})
    finally:
        con.close()
    store = copy_of_shipped(tmp_path)
    assert CHECKSUM not in columns(store.path)
    assert store.results() == expected and len(expected) == 480
    assert [list(r) for r in store.results()] == [list(r) for r in expected]  # the same keys in the same order
    assert main(["study", "status", store.directory], out=io.StringIO()) == 0
    assert CHECKSUM not in columns(store.path)  # reading changes nothing

    task, seed = expected[0]["task"], expected[0]["seed"]
    n = store.reset([task], [seed])
    assert n == sum(r["task"] == task and r["seed"] == seed for r in expected) > 1
    job = store.claim("w", lease_s=60)
    assert store.finish(job, "w", {"best_acc": 0.42, "seed": job.seed})
    assert CHECKSUM in columns(store.path)  # migrated with the first new result
    records = store.results()
    assert len(records) == 480 - n + 1
    assert [r for r in records if (r["task"], r["seed"]) == (task, seed)] == [
        {"arch": job.arch, "task": task, "seed": seed, "best_acc": 0.42}]
    assert [r for r in records if (r["task"], r["seed"]) != (task, seed)] == [
        r for r in expected if (r["task"], r["seed"]) != (task, seed)]


# ------------------------------------------------------------------------------------------- damaged rows
@pytest.mark.parametrize("text", ['{"best_acc": 0.5', "[1, 2]", None, "[" * 100_000 + "]" * 100_000])
def test_a_row_that_is_not_a_json_object_names_the_job_and_the_fix(tmp_path, capsys, text):
    store = copy_of_shipped(tmp_path)  # rows without a checksum: what a damaged older store holds
    con = sqlite3.connect(store.path)
    with con:
        job_id, arch, task, seed = con.execute("SELECT id, arch, task, seed FROM jobs WHERE status = 'done' "
                                               "ORDER BY id LIMIT 1 OFFSET 7").fetchone()
        con.execute("UPDATE jobs SET result = ? WHERE id = ?", (text, job_id))
    con.close()
    with pytest.raises(StudyError, match=f"job {job_id} \\({arch} {task} seed {seed}\\) is done but its stored "
                                         f"result is not a valid JSON object"):
        store.results()
    err = one_line_error(["study", "report", store.directory, "--out", str(tmp_path / "rep")], capsys)
    assert f"`unnas study reset {store.directory} --objectives {task} --seeds {seed}`" in err
    one_line_error(["study", "status", store.directory], capsys)


def test_a_damaged_setting_is_one_line(tmp_path, capsys):
    store = make(tmp_path)
    con = sqlite3.connect(store.path)
    with con:
        con.execute("UPDATE meta SET value = '{\"oops' WHERE key = 'tasks'")
    con.close()
    err = one_line_error(["study", "launch", store.directory, "--slurm"], capsys)
    assert "the study setting 'tasks' is not valid JSON" in err


# ------------------------------------------------------------------------------------------- a job's identity
def test_a_result_never_files_itself_under_another_job(tmp_path):
    store = make(tmp_path)
    job = store.claim("w", lease_s=60)
    for key, value in (("arch", "a2"), ("task", "rotation"), ("seed", 7)):
        with pytest.raises(StudyError, match=f"its result says {key} {value!r} but the job is a0 supervised seed 1"):
            store.finish(job, "w", {"best_acc": 0.5, key: value})
        with pytest.raises(StudyError, match=f"its result says {key}"):
            store.record(job.id, {"best_acc": 0.5, key: value})
    assert store.results() == []
    assert store.finish(job, "w", {"best_acc": 0.5, "arch": "a0", "seed": 1})  # repeating its own job is fine
    assert store.results() == [{"arch": "a0", "task": "supervised", "seed": 1, "best_acc": 0.5}]


def test_ingest_refuses_a_result_file_whose_payload_names_another_job(tmp_path):
    store = make(tmp_path)
    d = store.directory
    j0, j1 = store.find("a0", "supervised", 1), store.find("a1", "supervised", 1)
    write_result(d, j0, "a0", "supervised", 1, {"best_acc": 0.9, "arch": "a1", "seed": 1})  # claims to be a1
    write_result(d, j1, "a1", "supervised", 1, {"best_acc": 0.2, "seed": 1})
    got = ingest(d)
    assert (got.recorded, got.already) == (1, 0)
    assert got.problems == [f"results/{j0}.json: its result says arch 'a1' but the file is the result of a0 "
                            f"supervised seed 1; left in place"]
    assert store.results() == [{"arch": "a1", "task": "supervised", "seed": 1, "best_acc": 0.2}]
    assert os.path.exists(os.path.join(d, "results", f"{j0}.json"))


def test_a_stored_result_that_names_another_job_is_refused_when_read(tmp_path):
    store = copy_of_shipped(tmp_path)
    con = sqlite3.connect(store.path)
    with con:
        job_id, result = con.execute("SELECT id, result FROM jobs WHERE status = 'done' ORDER BY id").fetchone()
        con.execute("UPDATE jobs SET result = ? WHERE id = ?", (json.dumps({**json.loads(result), "seed": 99}), job_id))
    con.close()
    with pytest.raises(StudyError, match=f"job {job_id} .* its result says seed 99"):
        store.results()


# ------------------------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("seeds", ["99999999999999999999", "4294967296", "-1"])
def test_a_seed_out_of_range_is_one_line_at_init_and_add(tmp_path, capsys, seeds):
    d = str(tmp_path / "new")
    err = one_line_error(["study", "init", d, "--archs", "nb201-table:2", "--objectives", "supervised",
                          "--seeds", f"1,{seeds}"], capsys)
    assert f"seed {int(seeds)} is out of range" in err and not glob.glob(os.path.join(d, "study.sqlite"))
    store = make(tmp_path)
    err = one_line_error(["study", "add", store.directory, "--seeds", seeds], capsys)
    assert f"seed {int(seeds)} is out of range" in err
    assert store.meta()["seeds"] == [1] and sum(store.counts()["supervised"].values()) == 3
    assert store.find("a0", "supervised", int(seeds)) is None
    with pytest.raises(StudyError, match="out of range"):
        Store.create(str(tmp_path / "other"), [("a0", "{}")], ["supervised"], [int(seeds)], meta={})
