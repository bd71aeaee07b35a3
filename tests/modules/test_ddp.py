"""DDP on CPU: two processes search together and hold identical alphas and genotypes."""

import json
import os
import subprocess
import sys

import pytest

from conftest import TASKS, generated, write_config


@pytest.mark.slow
def test_ddp_search_on_two_cpu_processes_keeps_ranks_identical(tmp_path):
    cfg = write_config(tmp_path, {"class_path": "unnas.modules.WeightSharingSearch",
                                  "init_args": {"objective": TASKS["supervised"], "space": {"class_path": "unnas.spaces.DartsSpace", "init_args": {"channels": 4, "layers": 3}}}},
                       {"source": generated(train_size=32, test_size=8), "batch_size": 4, "train_portion": 0.5},
                       max_epochs=2, name="ddp", strategy="ddp", devices=2, limit_train_batches=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    proc = subprocess.run([sys.executable, "-m", "unnas", "fit", "-c", cfg], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "runs" / "ddp" / "version_0"
    history = json.loads((run / "alphas.json").read_text())["epochs"]
    assert [e["world_size"] for e in history] == [2, 2]
    assert [e["rank_max_abs_diff"] for e in history] == [0.0, 0.0]
    assert history[0]["normal"] != history[1]["normal"]  # the alphas moved, identically on both ranks
    assert (run / "genotype.json").exists()
