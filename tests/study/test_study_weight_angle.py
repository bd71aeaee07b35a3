"""A trained study job records RLNAS's weight angle in the store."""

import io
import math

import yaml

from unnas.cli import main
from unnas.study.store import Store


def test_a_trained_job_records_a_finite_angle_in_the_store(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cfg = {"seed_everything": 0,
           "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "enable_checkpointing": False,
                       "limit_train_batches": 2, "log_every_n_steps": 1},
           "model": {"class_path": "unnas.modules.ArchTraining",
                     "init_args": {"objective": {"class_path": "pretext_tasks.RandomLabels", "init_args": {"num_classes": 4}},
                                   "arch": "darts_v2", "precise_bn_samples": 8,
                                   "space": {"class_path": "unnas.spaces.DartsSpace",
                                             "init_args": {"channels": 4, "layers": 3}}}},
           "data": {"source": {"class_path": "unnas.data.Generated",
                               "init_args": {"train_size": 16, "test_size": 8, "num_classes": 4}},
                    "batch_size": 8}}
    (tmp_path / "random_labels.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "study.yaml").write_text(yaml.safe_dump({"tasks": {"random_labels": "random_labels.yaml"}}))
    study = str(tmp_path / "study")
    assert main(["study", "init", study, "--archs", "sample:2:1", "--tasks", "random_labels",
                 "--config", str(tmp_path / "study.yaml")], out=io.StringIO()) == 0
    assert main(["study", "run", study, "--arch", "s1-00001", "--task", "random_labels", "--seed", "1",
                 "--threads", "1"], out=io.StringIO()) == 0
    (record,) = Store.open(study).results()  # the one job run
    assert math.isfinite(record["weight_angle"]) and 0.0 < record["weight_angle"] < math.pi
    assert record["weight_angle_per_epoch"] == [record["weight_angle"]]
    assert record["rank_metric"] == "weight_angle"
