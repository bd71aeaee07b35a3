"""Study configs: a recipe's files merge as ``unnas fit -c base.yaml -c overlay.yaml`` merges them (both resolved by
the parser of ``unnas fit`` and compared), and the recipe forms a study config may use."""

import glob
import os

import pytest
import yaml

from unnas.study.config import load_study_config, merge_config_files, merge_configs, recipe_paths
from unnas.study.store import StudyError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def real_recipes():
    """(study config, objective, files) of two multi-file recipes of every study config under configs/study."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "configs", "study", "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            tasks = (yaml.safe_load(f) or {}).get("tasks") or {}
        multi = [(t, r) for t, r in tasks.items() if isinstance(r, list) and len(r) > 1]
        for task, recipe in multi[:1] + multi[-1:] if len(multi) > 1 else multi:
            out.append(pytest.param(recipe_paths(path, task, recipe), id=f"{os.path.basename(path)}-{task}"))
    return out


def both_ways(resolve, files):
    merged = merge_config_files(files, "test")
    return resolve([a for f in files for a in ("-c", f)]), resolve(merged), merged


@pytest.mark.parametrize("files", real_recipes())
def test_a_real_recipe_merges_as_unnas_fit_merges_its_files(resolve, files):
    by_fit, by_study, _ = both_ways(resolve, files)
    assert by_study == by_fit


def write(tmp_path, name, cfg):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


BASE = os.path.join(ROOT, "configs", "study", "nb201_cifar10_cpu", "base.yaml")


def objective(class_path, **init_args):
    spec = {"class_path": class_path}
    if init_args:
        spec["init_args"] = init_args
    return {"model": {"init_args": {"task": spec}}}


def test_a_changed_class_path_keeps_the_old_init_args_the_new_class_accepts(resolve, tmp_path):
    files = [BASE, write(tmp_path, "a.yaml", objective("pretext_tasks.Supervised", num_classes=7, style="cifar")),
             write(tmp_path, "b.yaml", objective("pretext_tasks.RandomLabels", seed=3))]
    by_fit, by_study, merged = both_ways(resolve, files)
    assert merged["model"]["init_args"]["task"] == {"class_path": "pretext_tasks.RandomLabels",
                                                    "init_args": {"num_classes": 7, "style": "cifar", "seed": 3}}
    assert by_study == by_fit


def test_a_changed_class_path_drops_the_old_init_args_the_new_class_does_not_take(resolve, tmp_path):
    files = [BASE, write(tmp_path, "a.yaml", objective("pretext_tasks.Supervised", num_classes=7)),
             write(tmp_path, "b.yaml", objective("pretext_tasks.Rotation"))]
    by_fit, by_study, merged = both_ways(resolve, files)
    assert merged["model"]["init_args"]["task"] == {"class_path": "pretext_tasks.Rotation"}  # a plain deep merge
    assert by_study == by_fit                                                              # keeps num_classes


def test_the_same_class_by_another_path_merges_its_init_args(tmp_path):
    a = objective("pretext_tasks.Supervised", num_classes=7)
    b = objective("pretext_tasks.supervised.Supervised", style="cifar")
    assert merge_configs(a, b)["model"]["init_args"]["task"]["init_args"] == {"num_classes": 7, "style": "cifar"}


def test_lists_replace_and_mappings_merge_as_in_unnas_fit(resolve, tmp_path):
    csv = {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(tmp_path)}}
    files = [BASE,
             write(tmp_path, "a.yaml", {"trainer": {"logger": [csv, csv], "max_epochs": 2},
                                        **objective("pretext_tasks.Rotation")}),
             write(tmp_path, "b.yaml", {"trainer": {"logger": [csv]},
                                        "data": {"source": {"init_args": {"root": str(tmp_path)}}}})]
    by_fit, by_study, merged = both_ways(resolve, files)
    assert merged["trainer"]["logger"] == [csv] and merged["trainer"]["max_epochs"] == 2
    assert merged["data"]["source"] == {"class_path": "unnas.data.CIFAR10", "init_args": {"root": str(tmp_path)}}
    assert by_study == by_fit


# ------------------------------------------------------------------------------------------- recipe forms
def test_every_recipe_form_loads_a_base_with_overlays_a_single_file_and_a_list_of_one(tmp_path):
    base = write(tmp_path, "base.yaml", {"model": {"class_path": "unnas.modules.ArchTraining",
                                                   "init_args": {"lr": 0.1, "task": {"class_path": "pretext_tasks.Rotation"}}}})
    write(tmp_path, "over.yaml", {"model": {"init_args": {"lr": 0.05}}})
    study = write(tmp_path, "study.yaml", {"tasks": {"a": ["base.yaml", "over.yaml"], "b": "base.yaml", "c": ["base.yaml"]}})
    configs = load_study_config(study)
    assert configs["a"]["model"]["init_args"]["lr"] == 0.05
    assert configs["b"] == configs["c"] == yaml.safe_load(open(base, encoding="utf-8"))


@pytest.mark.parametrize("recipe, message", [([], "no training config given for 'a'"),
                                             (["missing.yaml"], "missing.yaml does not exist"),
                                             ([3], "no training config given for 'a'")])
def test_a_bad_recipe_is_one_line_naming_the_objective(tmp_path, recipe, message):
    study = write(tmp_path, "study.yaml", {"tasks": {"a": recipe}})
    with pytest.raises(StudyError, match=message) as e:
        load_study_config(study)
    assert "\n" not in str(e.value)


def test_no_two_modules_of_the_study_or_the_command_line_import_each_other():
    """The import graph of unnas/study and unnas/cli (imports inside functions too) has no cycle."""
    import ast

    mods = {}
    for folder in ("unnas/study", "unnas/cli"):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith(".py"):
                mods[f"{folder}/{name[:-3]}".replace("/", ".").replace(".__init__", "")] = os.path.join(ROOT, folder, name)
    graph = {m: set() for m in mods}
    for m, path in mods.items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Import):
                graph[m] |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.ImportFrom) and node.module:
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(mods)
                # `from pkg import submodule` imports the submodule, not the package's own code
                graph[m] |= subs if len(subs) == len(node.names) else ({node.module} & set(mods)) | subs
        graph[m].discard(m)

    def reaches(start, goal, seen):
        return any(n == goal or (n not in seen and not seen.add(n) and reaches(n, goal, seen)) for n in graph[start])

    assert [m for m in graph if reaches(m, m, set())] == []
