"""Training-free rankers as study objectives: init, work, results and the report on a study that mixes them."""

import io
import json
import math

import pytest
import torch
import yaml

from unnas.cli import main
from unnas.rankers import NASWOT, Params, Synflow, gaussian_batch
from unnas.spaces import NB201Space
from unnas.study.report import build_report
from unnas.study.store import Store, StudyError, worker_id
from unnas.study.worker import init_study, work

SPACE = {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}}


def training_config(task: dict) -> dict:
    return {"trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1},
            "model": {"class_path": "unnas.modules.ArchTraining",
                      "init_args": {"task": task, "genotype": "nb201_resnet", "space": SPACE}},
            "data": {"source": {"class_path": "unnas.data.Generated",
                                "init_args": {"train_size": 16, "test_size": 8, "size": 16, "num_classes": 4}},
                     "batch_size": 8}}


@pytest.fixture
def study_config(tmp_path):
    """A tiny NB201 study config: supervised and rotation training configs, and a naswot entry with batch 4."""
    tasks = {"supervised": {"class_path": "pretext_tasks.Supervised", "init_args": {"num_classes": 4}},
             "rotation": {"class_path": "pretext_tasks.Rotation"}}
    for name, task in tasks.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(training_config(task)))
    spec = {"tasks": {**{n: f"{n}.yaml" for n in tasks}, "naswot": {"batch_size": 4},
                      "synflow": {"ranker": {"class_path": "unnas.rankers.Synflow"}, "batch_size": 2}}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def run(argv):
    out = io.StringIO()
    return main(argv, out=out), out.getvalue()


def frozen(study, task):
    with open(f"{study}/configs/{task}.yaml") as f:
        return yaml.safe_load(f)


def test_init_freezes_ranker_configs_with_the_trained_shape(tmp_path, study_config):
    study = str(tmp_path / "s")
    code, out = run(["study", "init", study, "--archs", "nb201-sample:2:3", "--tasks", "supervised,synflow,params",
                     "--config", study_config, "--set", "trainer.max_epochs=1"])
    assert code == 0 and "6 jobs" in out
    params = frozen(study, "params")  # not in the study config: the registry's class, the supervised shape
    assert params == {"ranker": {"class_path": "unnas.rankers.Params"}, "space": SPACE,
                      "input_shape": [3, 16, 16], "num_classes": 4, "batch_size": 64}
    assert frozen(study, "synflow")["ranker"] == {"class_path": "unnas.rankers.Synflow"}
    assert frozen(study, "synflow")["batch_size"] == 2
    assert frozen(study, "supervised")["trainer"]["max_epochs"] == 1


def test_unknown_task_names_a_config_entry_and_the_rankers(tmp_path, study_config):
    code, _ = run(["study", "init", str(tmp_path / "s"), "--archs", "nb201-sample:2", "--tasks", "supervised,nope",
                   "--config", study_config])
    assert code == 2
    with pytest.raises(StudyError) as e:
        init_study(str(tmp_path / "s"), archs="nb201-sample:2", tasks=["nope"], config=study_config)
    msg = str(e.value)
    assert "\n" not in msg and "no training config for nope" in msg and "synflow" in msg and "naswot" in msg


def test_bad_ranker_entry_is_one_line(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"tasks": {"mine": {"ranker": "unnas.rankers.Nope"}}}))
    with pytest.raises(StudyError) as e:
        init_study(str(tmp_path / "s"), archs="nb201-sample:2", tasks=["mine"], config=str(path))
    assert "\n" not in str(e.value) and "Nope" in str(e.value)
    path.write_text(yaml.safe_dump({"tasks": {"synflow": {"batch": 4}}}))
    with pytest.raises(StudyError, match="unknown key.*batch.*batch_size"):
        init_study(str(tmp_path / "s"), archs="nb201-sample:2", tasks=["synflow"], config=str(path))


def expected_score(ranker, text, seed, batch_size, classes=4, side=16):
    torch.manual_seed(seed)
    space = NB201Space(channels=4, layers=1)
    net = space.network(space.load(text), num_classes=classes)
    return ranker.score(net, gaussian_batch((3, side, side), batch_size, classes, seed))


def test_worker_records_ranker_scores_and_the_report_mixes_them(tmp_path, study_config):
    study = str(tmp_path / "s")
    init_study(study, archs="nb201-sample:3:1", tasks=["synflow", "params", "naswot"], seeds=[1, 2],
               config=study_config)
    summary = work(study, log=lambda m: None, threads=1)
    assert summary.recorded == 18 and summary.failed == 0
    archs = dict(Store.open(study).archs())
    results = Store.open(study).results()
    by = {(r["arch"], r["task"], r["seed"]): r for r in results}
    for (arch, task, seed), r in by.items():
        assert r["best_acc"] == r["score"] and r["ranker"] == task and r["wall_time_s"] >= 0 and r["threads"] == 1
        assert r["params"] > 0 and r["versions"]["torch"]
    for arch, text in archs.items():
        for seed in (1, 2):
            assert by[(arch, "synflow", seed)]["best_acc"] == pytest.approx(expected_score(Synflow(seed=seed), text, seed, 2), rel=1e-9)
            assert by[(arch, "naswot", seed)]["best_acc"] == pytest.approx(expected_score(NASWOT(seed=seed), text, seed, 4), rel=1e-9)
        assert by[(arch, "params", 1)]["best_acc"] == by[(arch, "params", 2)]["best_acc"] == by[(arch, "params", 1)]["params"]
    # naswot on Gaussian batches depends on the seed, and the same seed gives the same score again
    assert any(by[(a, "naswot", 1)]["best_acc"] != by[(a, "naswot", 2)]["best_acc"] for a in archs)
    # a trained objective's made-up results next to the rankers: the report correlates them all
    store = Store.open(study)
    run(["study", "add", study, "--tasks", "rotation", "--config", study_config])
    me = worker_id()
    while (job := store.claim(me, 60.0)) is not None:
        assert store.finish(job, me, {"best_acc": 0.1 + int(job.arch.split("/")[-1]) % 89 / 100, "params": 10, "seed": job.seed})
    report = build_report(Store.open(study).results(), str(tmp_path / "report"), n_boot=20, figures=False)
    text = json.dumps(json.loads((tmp_path / "report" / "correlations.json").read_text()))
    assert all(name in text for name in ("synflow", "naswot", "params", "rotation")) and report


def test_non_finite_score_fails_the_job_in_one_line(tmp_path, study_config, monkeypatch):
    study = str(tmp_path / "s")
    init_study(study, archs="nb201-sample:1", tasks=["params"], config=study_config)
    monkeypatch.setattr(Params, "_score", lambda self, net, batch: math.inf)
    summary = work(study, log=lambda m: None, threads=1)
    assert summary.failed == 1
    (failure,) = Store.open(study).failures()
    assert failure["error"].splitlines()[0] == (f"StudyError: params scored inf on {failure['arch']} (seed 1); "
                                                "a non-finite score ranks nothing")


def image_folder(root, classes=2, per_class=4, size=12):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = torch.randint(0, 256, (size, size, 3), generator=g, dtype=torch.uint8).numpy()
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def ranker_only_config(tmp_path, spec):
    path = tmp_path / "rankers.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_rankers_block_sets_every_ranker_task_and_an_entry_overrides_it(tmp_path):
    config = ranker_only_config(tmp_path, {"rankers": {"space": SPACE, "input_shape": [3, 8, 8], "num_classes": 5,
                                                       "batch_size": 3},
                                           "tasks": {"naswot": {"batch_size": 6}}})
    study = str(tmp_path / "s")
    init_study(study, archs="nb201-sample:2", tasks=["synflow", "naswot"], config=config)
    assert frozen(study, "synflow") == {"ranker": {"class_path": "unnas.rankers.Synflow"}, "space": SPACE,
                                        "input_shape": [3, 8, 8], "num_classes": 5, "batch_size": 3}
    assert frozen(study, "naswot")["batch_size"] == 6 and frozen(study, "naswot")["num_classes"] == 5
    summary = work(study, log=lambda m: None, threads=1)
    assert summary.recorded == 4 and summary.failed == 0


def test_rankers_block_with_an_unknown_key_is_one_line(tmp_path, capsys):
    config = ranker_only_config(tmp_path, {"rankers": {"batch": 3}})
    code, _ = run(["study", "init", str(tmp_path / "s"), "--archs", "nb201-sample:1", "--tasks", "synflow",
                   "--config", config])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "s").exists()
    assert "unknown key(s) batch under 'rankers'; use space, input_shape" in err


def test_ranker_task_scores_real_images_of_its_data_source(tmp_path):
    from unnas.data import ImageFolder
    from unnas.rankers import data_batch

    root = image_folder(tmp_path / "images")
    source = {"class_path": "unnas.data.ImageFolder", "init_args": {"root": "elsewhere"}}
    config = ranker_only_config(tmp_path, {"rankers": {"space": SPACE, "input_shape": [3, 8, 8], "num_classes": 2,
                                                       "batch_size": 4, "data": source}, "tasks": {}})
    study = str(tmp_path / "s")
    init_study(study, archs="nb201-sample:2", tasks=["naswot", "snip"], seeds=[3], config=config, data_root=str(root))
    assert frozen(study, "naswot")["data"]["init_args"]["root"] == str(root)
    assert work(study, log=lambda m: None, threads=1).recorded == 4
    images = data_batch(ImageFolder(str(root)), [3, 8, 8], 4, seed=3)
    assert images.images.shape == (4, 3, 8, 8) and set(images.labels.tolist()) <= {0, 1}
    # standardised with the CIFAR statistics: far from the [0, 1] range of the raw pixels
    assert images.images.min() < -0.5
    for arch, text in Store.open(study).archs():
        (r,) = [r for r in Store.open(study).results() if r["arch"] == arch and r["task"] == "naswot"]
        torch.manual_seed(3)
        net = NB201Space(channels=4, layers=1).network(NB201Space().load(text), num_classes=2)
        assert r["best_acc"] == pytest.approx(NASWOT(seed=3).score(net, images), rel=1e-9)
        assert r["best_acc"] != pytest.approx(NASWOT(seed=3).score(net, gaussian_batch((3, 8, 8), 4, 2, seed=3)))


def test_data_free_rankers_load_no_images(tmp_path):
    """synflow, params and macs score a study whose data folder does not exist (they read only the shape)."""
    source = {"class_path": "unnas.data.ImageFolder", "init_args": {"root": "elsewhere"}}
    config = ranker_only_config(tmp_path, {"rankers": {"space": SPACE, "input_shape": [3, 8, 8], "num_classes": 2,
                                                       "batch_size": 4, "data": source}, "tasks": {}})
    study = str(tmp_path / "s")
    init_study(study, archs="nb201-sample:2", tasks=["synflow", "params", "macs", "naswot"], seeds=[3], config=config)
    assert frozen(study, "naswot")["data"]["init_args"]["root"] == "elsewhere"
    summary = work(study, log=lambda m: None, threads=1)
    assert summary.recorded == 6 and summary.failed == 2
    assert {r["task"] for r in Store.open(study).results()} == {"synflow", "params", "macs"}


def test_data_true_without_a_training_source_is_one_line(tmp_path, capsys):
    config = ranker_only_config(tmp_path, {"rankers": {"data": True}})
    code, _ = run(["study", "init", str(tmp_path / "s"), "--archs", "nb201-sample:1", "--tasks", "naswot",
                   "--config", config])
    err = capsys.readouterr().err
    assert code == 2 and "data: true takes the image source of the study's training configs" in err
