"""Every config in the repository parses and instantiates (model, data, trainer) without touching data."""

import glob
import os

import pytest
import torch

from unnas.lightning_cli import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL = sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True))
STUDY_DIR = [c for c in ALL if os.path.dirname(c) == os.path.join(ROOT, "configs", "study")]


def _has_rankers_block(path):
    import yaml

    with open(path) as f:
        return "rankers" in (yaml.safe_load(f) or {})


RANKER_MAPS = [c for c in STUDY_DIR if _has_rankers_block(c)]  # ranker-only study configs
STUDY_MAPS = [c for c in STUDY_DIR if c not in RANKER_MAPS]


def _overlay_parts():
    """Files that a study config merges with others (a base recipe and its overlays): not configs on their own."""
    import yaml

    parts = set()
    for path in STUDY_MAPS:
        with open(path) as f:
            for rels in yaml.safe_load(f)["tasks"].values():
                if not isinstance(rels, str):
                    parts |= {os.path.normpath(os.path.join(os.path.dirname(path), r)) for r in rels}
    return parts


OVERLAY_PARTS = _overlay_parts()
#: search-strategy overlays: composed with a search config (``-c base.yaml -c strategies/<name>.yaml``)
STRATEGY_OVERLAYS = [c for c in ALL if os.path.dirname(c) == os.path.join(ROOT, "configs", "search", "strategies")]
CONFIGS = [c for c in ALL if c not in STUDY_DIR and c not in OVERLAY_PARTS and c not in STRATEGY_OVERLAYS]
# the paper's four objectives are in every study config; the CPU ones add the other trained objectives
PAPER_OBJECTIVES = ("supervised", "rotation", "colorization", "jigsaw")
OBJECTIVES = PAPER_OBJECTIVES + ("random_labels", "contrastive")


@pytest.mark.parametrize("config", STUDY_MAPS, ids=[os.path.relpath(c, ROOT) for c in STUDY_MAPS])
def test_study_configs_point_at_training_configs_for_every_objective(config):
    from unnas.study.worker import load_study_config

    configs = load_study_config(config)
    assert set(PAPER_OBJECTIVES) <= set(configs) <= set(OBJECTIVES)
    for task, cfg in configs.items():
        assert cfg["model"]["class_path"] == "unnas.modules.ArchTraining"
        class_name = "".join(part.capitalize() for part in task.split("_"))  # random_labels -> RandomLabels
        assert cfg["model"]["init_args"]["task"]["class_path"].rsplit(".", 1)[-1] == class_name


@pytest.mark.parametrize("config", RANKER_MAPS, ids=[os.path.relpath(c, ROOT) for c in RANKER_MAPS])
def test_ranker_study_configs_freeze_every_registered_ranker(config, tmp_path):
    import yaml

    from unnas.rankers import RANKERS
    from unnas.study.worker import init_study, ranker_defaults

    block = ranker_defaults(config)
    archs = "unnas500:2" if block["space"]["class_path"].endswith("DartsSpace") else "nb201-sample:2"
    study = init_study(str(tmp_path / "s"), archs=archs, tasks=list(RANKERS), config=config)
    assert {t: sum(c.values()) for t, c in study.counts().items()} == {t: 2 for t in RANKERS}
    for task, cls in RANKERS.items():
        with open(tmp_path / "s" / "configs" / f"{task}.yaml") as f:
            frozen = yaml.safe_load(f)
        assert frozen["ranker"]["class_path"].rsplit(".", 1)[-1] == cls.__name__
        assert {k: frozen[k] for k in block} == block


def test_there_are_configs_for_every_recipe():
    names = {os.path.relpath(c, os.path.join(ROOT, "configs")) for c in CONFIGS}
    for task in ("supervised", "rotation", "colorization", "jigsaw"):
        for name in (f"search/cifar10_{task}.yaml", f"search/imagenet_{task}.yaml", f"search/cifar10_{task}_cpu.yaml",
                     f"train/cifar10_sample_{task}.yaml", f"train/imagenet_sample_{task}.yaml", f"train/cifar10_{task}_cpu.yaml"):
            assert name in names
    assert "train/imagenet_eval.yaml" in names and "train/cifar10_darts_eval.yaml" in names


@pytest.mark.parametrize("config", CONFIGS, ids=[os.path.relpath(c, ROOT) for c in CONFIGS])
def test_config_instantiates(config, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    # devices/strategy of multi-GPU recipes are overridden: this machine has one CPU device
    cli = run(["-c", config, "--trainer.devices=1", "--trainer.strategy=auto", "--trainer.accelerator=cpu"], run=False)
    model = cli.model
    assert model.task.name in OBJECTIVES
    assert cli.datamodule.batch_size > 0
    if type(model).__name__ == "DartsSearch":
        assert cli.datamodule.train_portion == 0.5
        shapes = [tuple(a.shape) for a in model.supernet.arch_parameters()]
        alphas = [(6, 5)] if model.space.name == "nb201" else [(14, 8), (14, 8)]
        betas = [(rows,) for rows, _ in alphas] if model.supernet.beta_parameters() else []  # PC-DARTS edge betas
        assert shapes == alphas + betas
    else:
        assert model.net is not None and model.genotype is not None


@pytest.mark.parametrize("config", STUDY_MAPS, ids=[os.path.relpath(c, ROOT) for c in STUDY_MAPS])
def test_every_objective_of_a_study_config_instantiates(config, monkeypatch, tmp_path):
    from unnas.study.worker import load_study_config

    monkeypatch.setenv("WANDB_MODE", "disabled")
    for task, cfg in load_study_config(config).items():
        cli = run({**cfg, "trainer": {**cfg.get("trainer", {}), "accelerator": "cpu", "logger": False}}, run=False)
        assert cli.model.task.name == task


@pytest.mark.parametrize("task", ["Supervised", "Rotation", "Colorization", "Jigsaw"])
def test_objective_is_chosen_on_the_command_line(task, monkeypatch, capsys):
    import yaml

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    args = ["fit", "-c", "configs/train/cifar10_rotation_cpu.yaml", f"--model.init_args.task={task}"]
    if task == "Jigsaw":
        args.append("--model.init_args.task.init_args.gray_prob=0.5")
    with pytest.raises(SystemExit):
        run(args + ["--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)["model"]["init_args"]["task"]
    assert printed["class_path"] == f"pretext_tasks.{task}"
    if task == "Jigsaw":
        assert printed["init_args"]["gray_prob"] == 0.5


@pytest.mark.parametrize("config", ["configs/search/cifar10_rotation.yaml", "configs/train/cifar10_rotation_cpu.yaml"])
def test_speedup_switches_are_set_from_the_command_line(config, monkeypatch):
    from unnas.spaces.darts import Speedups

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    base = ["-c", config, "--trainer.accelerator=cpu", "--trainer.devices=1", "--trainer.strategy=auto"]
    cli = run(base + ["--model.init_args.space.init_args.speedups.channels_last=false",
                      "--model.init_args.space.init_args.speedups.depthwise_backward=false"], run=False)
    net = getattr(cli.model, "supernet", None) or cli.model.net
    assert net.speedups == Speedups(channels_last=False, depthwise_backward=False)
    assert net.stem[0].weight.is_contiguous()
    default = getattr(run(base, run=False).model, "supernet", None) or run(base, run=False).model.net
    assert default.speedups == Speedups()
    assert default.stem[0].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("task", ["supervised", "rotation", "colorization", "jigsaw"])
def test_cpu_search_configs_turn_off_the_switches_that_lose_at_their_width(task, monkeypatch):
    from unnas.spaces.darts import Speedups

    monkeypatch.chdir(ROOT)
    cli = run(["-c", f"configs/search/cifar10_{task}_cpu.yaml", "--trainer.accelerator=cpu"], run=False)
    assert cli.model.supernet.speedups == Speedups(depthwise_backward=False, recompute_depthwise=False)


@pytest.mark.parametrize("overlay", STRATEGY_OVERLAYS, ids=[os.path.basename(c) for c in STRATEGY_OVERLAYS])
@pytest.mark.parametrize("base", ["nb201_cifar10_cpu", "cifar10_rotation_cpu"])
def test_every_strategy_overlay_sets_only_the_strategy_and_composes_with_a_search_config(overlay, base, monkeypatch):
    import yaml

    from unnas.lightning_cli import run

    with open(overlay) as f:
        entry = yaml.safe_load(f)
    assert list(entry) == ["model"] and list(entry["model"]) == ["init_args"]
    assert list(entry["model"]["init_args"]) == ["strategy"]
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cli = run(["-c", os.path.join("configs", "search", f"{base}.yaml"), "-c", overlay, "--trainer.accelerator=cpu"],
              run=False)
    strategy = cli.model.strategy
    assert f"{type(strategy).__module__.rsplit('.', 1)[0]}.{type(strategy).__name__}" == \
        entry["model"]["init_args"]["strategy"]["class_path"]
    for name, value in (entry["model"]["init_args"]["strategy"].get("init_args") or {}).items():
        assert getattr(strategy, name) == value
