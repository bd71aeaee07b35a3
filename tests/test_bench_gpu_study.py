"""benchmarks/bench_gpu_study.py at its small sizes on the CPU: every part runs and the projection follows from the
measured figures."""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "benchmarks"))
    import bench_gpu_study

    return bench_gpu_study


def test_small_run_measures_every_part_and_projects_the_study(bench, tmp_path):
    out = bench.main(["--small", "--device", "cpu", "--ks", "1", "2", "--steps", "1", "--warmup", "1",
                      "--rank-archs", "4", "--rank-steps", "2", "--rankers", "params,synflow", "--threads", "1",
                      "--out", str(tmp_path / "o.json")])
    assert json.loads((tmp_path / "o.json").read_text()) == json.loads(json.dumps(out))
    jobs = out["jobs"]
    assert [r["k"] for r in jobs["rows"]] == [1, 2] and jobs["runs"] == 6000
    for row in jobs["rows"]:
        job_s = bench.job_seconds(row["step_s"], out["settings"])
        study_s = sum(500 * 3 * job_s * w for w in jobs["objective_work"].values()) / row["k"]
        assert row["jobs_per_hour"] == pytest.approx(row["k"] * 3600 / job_s, rel=1e-3)
        assert row["study_device_days"] == pytest.approx(study_s / 86400, rel=1e-2, abs=0.01)
    assert jobs["objective_work"]["supervised"] == 1.0 and jobs["objective_work"]["rotation"] > 3
    assert "FirstOrder" in out["search"]["step_s"] and all(s > 0 for s in out["search"]["step_s"].values())
    assert set(out["rankers"]) == {"params", "synflow"}
    assert out["precision"]["archs"] == 4 and -1.0 <= out["precision"]["rho_fp32_bf16"] <= 1.0


def test_a_paper_job_is_its_steps_plus_the_evaluation_passes(bench):
    conf = dict(bench.PAPER)
    # 391 training steps + (79 test + 8 precise-BN batches) / 3 per epoch, 100 epochs
    assert bench.job_seconds(1.0, conf) == pytest.approx(100 * (391 + 87 / 3))
