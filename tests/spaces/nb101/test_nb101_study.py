"""A NAS-Bench-101 study from the space's default study config: init builds the jobs and one tiny job trains."""

import os

import pytest
import yaml

from unnas.study.store import Store, worker_id
from unnas.study.worker import init_study, load_study_config, train_job

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY = {"data.source": {"class_path": "unnas.data.Generated",
                        "init_args": {"train_size": 16, "test_size": 8, "num_classes": 4}},
        "data.train_size": 16, "data.test_size": 8, "trainer.max_epochs": 1, "trainer.accelerator": "cpu",
        "trainer.limit_train_batches": 2, "model.init_args.precise_bn_samples": 8}


def test_default_config_builds_the_jobs_and_one_job_trains(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    study = str(tmp_path / "s")
    store = init_study(study, archs="unnas_nb101:2", tasks=["supervised", "rotation"], seeds=[1], space="nb101",
                       overrides=TINY)
    assert store.meta()["space"] == "nb101"
    assert store.meta()["config"].endswith(os.path.join("configs", "study", "nb101_cifar10_cpu.yaml"))
    assert sorted(a for a, _ in store.archs()) == ["unnas_nb101/000907", "unnas_nb101/209741"]  # ids 0 and 250 of 500
    with open(os.path.join(study, "configs", "rotation.yaml"), encoding="utf-8") as f:
        frozen = yaml.safe_load(f)
    assert frozen["model"]["init_args"]["space"]["class_path"] == "unnas.spaces.nb101.NB101Space"
    me = worker_id()
    job = store.claim(me, 60.0)
    while job.task != "rotation":  # the generated images carry 4 classes; rotation needs none
        job = store.claim(me, 60.0)
    result = train_job(study, job)
    assert 0.0 <= result["best_acc"] <= 1.0 and result["params"] > 0


@pytest.mark.parametrize("name", ["nb101_cifar10_cpu", "nb101_cifar10_paper", "nb101_imagenet_paper"])
def test_study_configs_keep_the_papers_per_objective_recipes(name):
    cfgs = load_study_config(os.path.join(ROOT, "configs", "study", f"{name}.yaml"))
    paper = ["colorization", "jigsaw", "rotation", "supervised"]
    assert set(paper) <= set(cfgs) <= set(paper) | {"random_labels", "contrastive"}
    cfgs = {t: cfgs[t] for t in paper}  # the paper's recipes; the other objectives have none
    ratio = {t: c["model"]["init_args"]["lr"] / c["data"].get("batch_size", 32) for t, c in cfgs.items()}
    # UnNAS (configs/sample_based/nas_bench/*/*/<id>.yaml): lr / batch is 0.1 / 128 for cls and col, 0.025 / 32 for
    # rot and jig on CIFAR-10, 0.0125 / 32 for every objective on ImageNet
    assert all(r == pytest.approx(ratio["supervised"]) for r in ratio.values())
    space = cfgs["supervised"]["model"]["init_args"]["space"]["init_args"]
    epochs = cfgs["supervised"]["trainer"]["max_epochs"]
    precise = cfgs["supervised"]["model"]["init_args"]["precise_bn_samples"]
    expected = {"nb101_cifar10_cpu": ({"network": "cifar", "channels": 16, "layers": 2}, 4, 256),
                "nb101_cifar10_paper": ({"network": "cifar", "channels": 128, "layers": 3}, 100, 1024),
                "nb101_imagenet_paper": ({"network": "imagenet", "channels": 128, "layers": 4}, 10, 0)}[name]
    assert (space, epochs, precise) == expected
