"""Every config in the repository parses and instantiates (model, data, trainer) without touching data, and every
documented composition (a base recipe with its objective overlays, a strategy overlay on a search config, a study
recipe's files) resolves through the real parser of ``unnas fit``.

Layout (configs/):

* ``objectives/<objective>.yaml`` (32x32 recipes) and ``objectives/imagenet/<objective>.yaml``: objective overlays,
  ``model.init_args.objective`` only; ``objectives/sample_study{,_cpu}/<objective>.yaml``: an objective's batch and lr in
  the (CPU) sample-based studies.
* base recipes, which set no objective: ``search/{cifar10,cifar10_cpu,imagenet}.yaml`` (and ``*_batch32.yaml``: the
  halved batch of UnNAS's rotation/jigsaw searches), ``train/{cifar10_cpu,cifar10_sample,imagenet_sample}.yaml``,
  ``study/<study>/base.yaml``.
* entry points (``search/cifar10_rotation_cpu.yaml`` ...): ``config: <base>`` (jsonargparse's nested ``--config``)
  plus the objective's keys as dotted keys and the run's logger name; each says which ``-c`` chain it equals.
* ``study/<study>.yaml``: objective -> [base, objective overlay(s)], merged in order.
"""

import glob
import os
import re

import pytest
import torch
import yaml

from pretext_tasks import default_objectives
from unnas.lightning_cli import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(ROOT, "configs")
ALL = sorted(glob.glob(os.path.join(CONFIG_DIR, "**", "*.yaml"), recursive=True))
STUDY_DIR = [c for c in ALL if os.path.dirname(c) == os.path.join(CONFIG_DIR, "study")]


def _rel(path):
    return os.path.relpath(path, ROOT)


def _load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


RANKER_MAPS = [c for c in STUDY_DIR if "rankers" in _load(c)]  # ranker-only study configs
STUDY_MAPS = [c for c in STUDY_DIR if c not in RANKER_MAPS]


def _recipes(path):
    """{objective: [files]} of a study config, absolute paths in merge order."""
    out = {}
    for task, rels in _load(path)["tasks"].items():
        rels = [rels] if isinstance(rels, str) else rels
        out[task] = [os.path.normpath(os.path.join(os.path.dirname(path), r)) for r in rels]
    return out


STUDY_RECIPES = [(c, task, files) for c in STUDY_MAPS for task, files in _recipes(c).items()]
OVERLAY_PARTS = {f for _, _, files in STUDY_RECIPES for f in files}  # files a study recipe merges
#: search-strategy overlays: composed with a search config (``-c base.yaml -c strategies/<name>.yaml``)
STRATEGY_OVERLAYS = [c for c in ALL if os.path.dirname(c) == os.path.join(CONFIG_DIR, "search", "strategies")]
#: objective overlays (and the studies' per-objective batch/lr overlays)
OBJECTIVE_OVERLAYS = [c for c in ALL if c.startswith(os.path.join(CONFIG_DIR, "objectives") + os.sep)]


def _include(path):
    """The file a config includes with jsonargparse's nested ``config:`` key (None: none)."""
    inc = _load(path).get("config")
    return os.path.normpath(os.path.join(os.path.dirname(path), inc)) if inc else None


def _sets_objective(path):
    spec = _load(path)
    if "model.init_args.objective" in spec or "objective" in ((spec.get("model") or {}).get("init_args") or {}):
        return True
    return _include(path) is not None and _sets_objective(_include(path))


#: speed overlays (bf16, compile): composed with a training recipe (``-c recipe.yaml -c speed/<name>.yaml``)
SPEED_OVERLAYS = [c for c in ALL if os.path.dirname(c) == os.path.join(CONFIG_DIR, "speed")]
TRAINING = [c for c in ALL if c not in STUDY_DIR and c not in STRATEGY_OVERLAYS and c not in OBJECTIVE_OVERLAYS
            and c not in SPEED_OVERLAYS]
#: base recipes: everything but the objective; composed with an objective overlay, never run alone
BASES = [c for c in TRAINING if not _sets_objective(c)]
#: configs that run on their own: ``unnas fit -c <config>``
CONFIGS = [c for c in TRAINING if c not in BASES and c not in OVERLAY_PARTS]
#: entry points written as a base plus the objective's keys
COMPOSED = [c for c in CONFIGS if _include(c)]
# the paper's four objectives are in every study config; the CPU ones add the other trained objectives
PAPER_OBJECTIVES = ("supervised", "rotation", "colorization", "jigsaw")
OBJECTIVES = PAPER_OBJECTIVES + ("random_labels", "contrastive")


def _chain(files):
    return [a for f in files for a in ("-c", f)]


def _documented_chain(path):
    """The ``-c`` files a composed entry point says it equals (its ``#   unnas fit -c ... -c ...`` line)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#\s+unnas fit((?: -c \S+)+)\s*$", line)
            if m:
                return [os.path.join(ROOT, p) for p in m.group(1).split()[1::2]]
    return None


def _without_logger_name(cfg):
    cfg = yaml.safe_load(yaml.safe_dump(cfg))
    for logger in (cfg.get("trainer") or {}).get("logger") or []:
        (logger.get("init_args") or {}).pop("name", None)
    return cfg


# ------------------------------------------------------------------------------------------- layout
def test_the_layout_is_what_the_tests_expect():
    assert len(BASES) >= 8 and len(COMPOSED) >= 24 and len(OBJECTIVE_OVERLAYS) >= 10
    # no objective key outside the objective overlays but in the composed entry points (as one dotted key)
    for path in TRAINING:
        if path in COMPOSED:
            continue
        spec = _load(path)
        if path in BASES or path in OVERLAY_PARTS:
            assert "objective" not in ((spec.get("model") or {}).get("init_args") or {}), _rel(path)


def test_there_are_configs_for_every_recipe():
    names = {os.path.relpath(c, CONFIG_DIR) for c in CONFIGS}
    for task in default_objectives():  # the paper's four have every recipe
        for name in (f"search/cifar10_{task}.yaml", f"search/imagenet_{task}.yaml", f"search/cifar10_{task}_cpu.yaml",
                     f"train/cifar10_sample_{task}.yaml", f"train/imagenet_sample_{task}.yaml", f"train/cifar10_{task}_cpu.yaml"):
            assert name in names
    assert "train/imagenet_eval.yaml" in names and "train/cifar10_darts_eval.yaml" in names


# ------------------------------------------------------------------------------------------- compositions
@pytest.mark.parametrize("config", COMPOSED, ids=[_rel(c) for c in COMPOSED])
def test_a_composed_entry_point_is_its_documented_chain_of_base_and_overlays(config, resolve, monkeypatch):
    monkeypatch.chdir(ROOT)
    files = _documented_chain(config)
    assert files, f"{_rel(config)} names no `#   unnas fit -c BASE -c OVERLAY` line"
    assert files[0] == _include(config) or _include(files[0]) is not None
    assert all(os.path.isfile(f) for f in files)
    entry = resolve(["-c", config])
    assert entry["model"]["init_args"]["objective"] is not None
    # equal to the -c chain; only the CSV folder named after the entry point differs
    assert _without_logger_name(entry) == _without_logger_name(resolve(_chain(files)))
    name = os.path.splitext(os.path.basename(config))[0]
    assert entry["trainer"]["logger"][0]["init_args"]["name"] == f"{os.path.basename(os.path.dirname(config))}_{name}"


def _objectives_for(base):
    """The objective overlays (each a list of -c files after *base*) a base recipe is documented with."""
    rel = os.path.relpath(base, CONFIG_DIR)
    obj = os.path.join(CONFIG_DIR, "objectives")
    if "imagenet" in rel:
        return [[os.path.join(obj, "imagenet", f"{o}.yaml")] for o in PAPER_OBJECTIVES]
    if rel == os.path.join("train", "cifar10_sample.yaml"):
        return [[os.path.join(obj, f"{o}.yaml"), os.path.join(obj, "sample_study", f"{o}.yaml")]
                for o in PAPER_OBJECTIVES]
    return [[os.path.join(obj, f"{o}.yaml")] for o in OBJECTIVES]


BASE_COMPOSITIONS = [(b, o) for b in BASES for o in _objectives_for(b)]


@pytest.mark.parametrize("base,overlays", BASE_COMPOSITIONS,
                         ids=[f"{_rel(b)}+{'+'.join(os.path.relpath(o, CONFIG_DIR) for o in ovs)}"
                              for b, ovs in BASE_COMPOSITIONS])
def test_every_base_recipe_composes_with_every_objective_overlay(base, overlays, resolve, monkeypatch):
    monkeypatch.chdir(ROOT)
    alone = resolve(["-c", base])
    assert alone["model"]["init_args"].get("objective") is None  # a base sets no objective
    cfg = resolve(_chain([base, *overlays]))
    task = _load(overlays[0])["model"]["init_args"]["objective"]
    assert cfg["model"]["init_args"]["objective"]["class_path"] == task["class_path"]
    for key, value in (task.get("init_args") or {}).items():
        assert cfg["model"]["init_args"]["objective"]["init_args"][key] == value
    # the overlay changes nothing but what it sets
    for section in ("trainer", "seed_everything"):
        assert cfg[section] == alone[section]
    assert cfg["model"]["init_args"]["space"] == alone["model"]["init_args"]["space"]


SEARCH_CONFIGS = [c for c in CONFIGS if os.path.dirname(c) == os.path.join(CONFIG_DIR, "search")]
STRATEGY_COMPOSITIONS = [(b, s) for s in STRATEGY_OVERLAYS for b in SEARCH_CONFIGS
                         if "nb201_cpu" not in os.path.basename(s) or b.endswith("nb201_cifar10_cpu.yaml")]


@pytest.mark.parametrize("base,overlay", STRATEGY_COMPOSITIONS,
                         ids=[f"{os.path.basename(b)}+{os.path.basename(s)}" for b, s in STRATEGY_COMPOSITIONS])
def test_every_strategy_overlay_composes_with_every_search_config(base, overlay, resolve, monkeypatch):
    monkeypatch.chdir(ROOT)
    alone = resolve(["-c", base])
    cfg = resolve(["-c", base, "-c", overlay])
    strategy = _load(overlay)["model"]["init_args"]["search_strategy"]
    assert cfg["model"]["init_args"]["search_strategy"]["class_path"] == strategy["class_path"]
    for key, value in (strategy.get("init_args") or {}).items():
        assert cfg["model"]["init_args"]["search_strategy"]["init_args"][key] == value
    for key in ("objective", "space", "lr", "arch_lr"):
        assert cfg["model"]["init_args"][key] == alone["model"]["init_args"][key]
    assert cfg["data"] == alone["data"]


@pytest.mark.parametrize("recipe", STUDY_RECIPES, ids=[f"{os.path.basename(c)}-{t}" for c, t, _ in STUDY_RECIPES])
def test_every_study_recipe_resolves_as_a_chain_of_its_files(recipe, resolve, monkeypatch):
    config, task, files = recipe
    monkeypatch.chdir(ROOT)
    assert all(_include(f) is None for f in files), "the study reader merges plain YAML: no nested config:"
    cfg = resolve(_chain(files))
    class_name = "".join(part.capitalize() for part in task.split("_"))  # random_labels -> RandomLabels
    assert cfg["model"]["init_args"]["objective"]["class_path"].rsplit(".", 1)[-1] == class_name


def test_a_misspelled_overlay_key_is_refused(resolve, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    base = os.path.join(CONFIG_DIR, "search", "cifar10_cpu.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  init_args:\n    tsak: {class_path: pretext_tasks.Rotation}\n")
    with pytest.raises(Exception, match="tsak"):
        resolve(["-c", base, "-c", str(bad)])
    bad_entry = tmp_path / "bad_entry.yaml"  # the composed entry points' form: a nested config and dotted keys
    bad_entry.write_text(f"config: {base}\nmodel.init_args.tsak: {{class_path: pretext_tasks.Rotation}}\n")
    with pytest.raises(Exception, match="tsak"):
        resolve(["-c", str(bad_entry)])
    good_entry = tmp_path / "good_entry.yaml"
    good_entry.write_text(f"config: {base}\nmodel.init_args.objective: {{class_path: pretext_tasks.Rotation}}\n")
    assert resolve(["-c", str(good_entry)])["model"]["init_args"]["space"]["init_args"]["channels"] == 4


# ------------------------------------------------------------------------------------------- study configs
@pytest.mark.parametrize("config", STUDY_MAPS, ids=[_rel(c) for c in STUDY_MAPS])
def test_study_configs_point_at_training_configs_for_every_objective(config):
    from unnas.study.worker import load_study_config

    configs = load_study_config(config)
    assert set(PAPER_OBJECTIVES) <= set(configs) <= set(OBJECTIVES)
    for task, cfg in configs.items():
        assert cfg["model"]["class_path"] == "unnas.modules.ArchTraining"
        class_name = "".join(part.capitalize() for part in task.split("_"))  # random_labels -> RandomLabels
        assert cfg["model"]["init_args"]["objective"]["class_path"].rsplit(".", 1)[-1] == class_name


@pytest.mark.parametrize("config", RANKER_MAPS, ids=[_rel(c) for c in RANKER_MAPS])
def test_ranker_study_configs_freeze_every_registered_ranker(config, tmp_path):
    from unnas.rankers import RANKERS
    from unnas.study.worker import init_study, ranker_defaults

    block = ranker_defaults(config)
    archs = "unnas500:2" if block["space"]["class_path"].endswith("DartsSpace") else "nb201-sample:2"
    study = init_study(str(tmp_path / "s"), archs=archs, tasks=list(RANKERS), config=config)
    assert {t: sum(c.values()) for t, c in study.counts().items()} == {t: 2 for t in RANKERS}
    for task, cls in RANKERS.items():
        frozen = _load(tmp_path / "s" / "configs" / f"{task}.yaml")
        assert frozen["ranker"]["class_path"].rsplit(".", 1)[-1] == cls.__name__
        assert {k: frozen[k] for k in block} == block


@pytest.mark.parametrize("config", STUDY_MAPS, ids=[_rel(c) for c in STUDY_MAPS])
def test_every_objective_of_a_study_config_instantiates(config, monkeypatch, tmp_path):
    from unnas.study.worker import load_study_config

    monkeypatch.setenv("WANDB_MODE", "disabled")
    for task, cfg in load_study_config(config).items():
        cli = run({**cfg, "trainer": {**cfg.get("trainer", {}), "accelerator": "cpu", "logger": False}}, run=False)
        assert cli.model.objective.name == task


# ------------------------------------------------------------------------------------------- instantiation
@pytest.mark.parametrize("config", CONFIGS, ids=[_rel(c) for c in CONFIGS])
def test_config_instantiates(config, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    # devices/strategy of multi-GPU recipes are overridden: this machine has one CPU device
    cli = run(["-c", config, "--trainer.devices=1", "--trainer.strategy=auto", "--trainer.accelerator=cpu"], run=False)
    model = cli.model
    assert model.objective.name in OBJECTIVES
    assert cli.datamodule.batch_size > 0
    if hasattr(model, "supernet"):  # a weight-sharing search (unnas.modules.WeightSharingSearch)
        assert cli.datamodule.train_portion == 0.5
        shapes = [tuple(a.shape) for a in model.supernet.arch_parameters()]
        alphas = [(6, 5)] if model.space.name == "nb201" else [(14, 8), (14, 8)]
        betas = [(rows,) for rows, _ in alphas] if model.supernet.beta_parameters() else []  # PC-DARTS edge betas
        assert shapes == alphas + betas
    else:
        assert model.net is not None and model.genotype is not None


@pytest.mark.parametrize("task", ["Supervised", "Rotation", "Colorization", "Jigsaw"])
def test_objective_is_chosen_on_the_command_line(task, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    args = ["fit", "-c", "configs/train/cifar10_rotation_cpu.yaml", f"--model.init_args.objective={task}"]
    if task == "Jigsaw":
        args.append("--model.init_args.objective.init_args.gray_prob=0.5")
    with pytest.raises(SystemExit):
        run(args + ["--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)["model"]["init_args"]["objective"]
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
                      "--model.init_args.space.init_args.speedups.depthwise_backward=false",
                      "--model.init_args.space.init_args.speedups.fold_weights=auto"], run=False)
    net = getattr(cli.model, "supernet", None) or cli.model.net
    assert cli.model.space.speedups == Speedups(channels_last=False, depthwise_backward=False)
    assert cli.model.space.speedups.fold_weights is None  # "auto": chosen by device
    assert net.speedups == Speedups(channels_last=False, depthwise_backward=False).for_device("cpu")
    assert net.stem[0].weight.is_contiguous()
    default = run(base, run=False).model
    assert default.space.speedups == Speedups()
    net = getattr(default, "supernet", None) or default.net
    assert net.speedups == Speedups.on()  # built with the CPU's choice
    assert net.stem[0].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("task", ["supervised", "rotation", "colorization", "jigsaw"])
def test_cpu_search_configs_turn_off_the_switches_that_lose_at_their_width(task, monkeypatch):
    from unnas.spaces.darts import Speedups

    monkeypatch.chdir(ROOT)
    cli = run(["-c", f"configs/search/cifar10_{task}_cpu.yaml", "--trainer.accelerator=cpu"], run=False)
    assert cli.model.space.speedups == Speedups(depthwise_backward=False, recompute_depthwise=False)
    assert cli.model.supernet.speedups == Speedups(depthwise_backward=False, recompute_depthwise=False).for_device("cpu")


@pytest.mark.parametrize("overlay", SPEED_OVERLAYS, ids=[os.path.basename(c) for c in SPEED_OVERLAYS])
def test_every_speed_overlay_composes_with_the_paper_training_recipe(overlay, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cli = run(["-c", "configs/train/cifar10_sample_rotation.yaml", "-c", overlay, "--trainer.accelerator=cpu"],
              run=False)
    entry = _load(overlay)
    if "trainer" in entry:
        assert str(cli.trainer.precision) == entry["trainer"]["precision"]
    if "model" in entry:
        assert cli.model.hparams.compile is entry["model"]["init_args"]["compile"]
    assert len(SPEED_OVERLAYS) == 2


@pytest.mark.parametrize("overlay", STRATEGY_OVERLAYS, ids=[os.path.basename(c) for c in STRATEGY_OVERLAYS])
@pytest.mark.parametrize("base", ["nb201_cifar10_cpu", "cifar10_rotation_cpu"])
def test_every_strategy_overlay_sets_only_the_strategy_and_composes_with_a_search_config(overlay, base, monkeypatch):
    entry = _load(overlay)
    assert list(entry) == ["model"] and list(entry["model"]) == ["init_args"]
    assert list(entry["model"]["init_args"]) == ["search_strategy"]
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cli = run(["-c", os.path.join("configs", "search", f"{base}.yaml"), "-c", overlay, "--trainer.accelerator=cpu"],
              run=False)
    strategy = cli.model.search_strategy
    assert f"{type(strategy).__module__.rsplit('.', 1)[0]}.{type(strategy).__name__}" == \
        entry["model"]["init_args"]["search_strategy"]["class_path"]
    for name, value in (entry["model"]["init_args"]["search_strategy"].get("init_args") or {}).items():
        assert getattr(strategy, name) == value
