"""NAS-Bench-201 ground truth: the embedded NASLib table (NB201Table) and the full-benchmark adapter (NB201API)."""

from __future__ import annotations

import json
import math
import os
import sys
import types

import pytest

from unnas.spaces.base import ArchError, GroundTruth
from unnas.spaces.nb201 import benchmark as bm
from unnas.spaces.nb201.benchmark import NB201API, NB201Table

TABLE = os.path.join(os.path.dirname(bm.__file__), "data", "nb201_naslib_zc.json")
OPS_NASLIB = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]
FILE_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
EMPTY = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def raw():
    with open(TABLE, encoding="utf-8") as f:
        return json.load(f)["nasbench201"]


def key_to_str(key: str) -> str:
    """The test's own reading of data/README.md: slots (0->1, 0->2, 1->2, 0->3, 1->3, 2->3) take positions
    0, 1, 3, 2, 4, 5 of NASLib's tuple."""
    t = [OPS_NASLIB[int(x)] for x in key.strip("()").split(",")]
    return f"|{t[0]}~0|+|{t[1]}~0|{t[3]}~1|+|{t[2]}~0|{t[4]}~1|{t[5]}~2|"


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg.strip()
    return msg


# ------------------------------------------------------------------------------------------------ the table
def test_key_conversion_round_trips_on_all_keys(raw):
    keys = list(raw["cifar10"])
    assert len(keys) == 491
    for key in keys:
        s = bm._naslib_key_to_arch_str(key)
        assert s == key_to_str(key)
        assert bm._arch_str_to_naslib_key(s) == key
        assert bm._format_arch_str(bm._parse_arch_str(s)) == s
    assert len({bm._naslib_key_to_arch_str(k) for k in keys}) == 491


def test_position_mapping_matches_accuracies(raw):
    """A cell whose output is cut off from its input (every path 0 -> 3 goes through `none`) is at chance; every
    other cell is far above. A wrong slot mapping (e.g. positions read in slot order) breaks this."""

    def connected(ops):
        edge = {(0, 1): ops[0], (0, 2): ops[1], (1, 2): ops[2], (0, 3): ops[3], (1, 3): ops[4], (2, 3): ops[5]}
        reach = {0}
        for j in (1, 2, 3):
            if any(i in reach and edge[i, j] != "none" for i in range(j)):
                reach.add(j)
        return 3 in reach

    chance = {"cifar10": 10.0, "cifar100": 1.0, "ImageNet16-120": 100 / 120}
    for ds in FILE_DATASETS:
        cut = [v["val_accuracy"] for k, v in raw[ds].items()
               if not connected(bm._parse_arch_str(bm._naslib_key_to_arch_str(k)))]
        rest = [v["val_accuracy"] for k, v in raw[ds].items()
                if connected(bm._parse_arch_str(bm._naslib_key_to_arch_str(k)))]
        assert len(cut) == 7
        assert all(abs(a - chance[ds]) < 0.01 for a in cut)
        assert min(rest) > 10.1
    # the same check with positions read in slot order fails, so the check can tell mappings apart
    wrong = [v["val_accuracy"] for k, v in raw["cifar10"].items()
             if not connected([OPS_NASLIB[int(x)] for x in k.strip("()").split(",")])]
    assert max(wrong) > 80


def test_params_of_a_documented_cell():
    # spaces.md: this cell has 101,306 parameters on CIFAR-10 (the table's params are in millions)
    cell = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|none~2|"
    assert NB201Table(metric="params").query(cell) == pytest.approx(0.101306)


@pytest.mark.parametrize("which", ["min", "max"])
def test_queries_match_the_file_on_all_datasets(raw, which):
    pick = min if which == "min" else max
    key = pick(raw["cifar10"], key=lambda k: raw["cifar10"][k]["val_accuracy"])
    cell = key_to_str(key)
    t = NB201Table()
    assert isinstance(t, GroundTruth) and t.space == "nb201"
    for ds, alias in zip(FILE_DATASETS, ("cifar10", "cifar100", "imagenet16-120")):
        want = raw[ds][key]["val_accuracy"]
        assert t.query(cell, ds) == pytest.approx(want)
        assert t.query(cell, alias) == pytest.approx(want)
        assert NB201Table(dataset=alias).query(cell) == pytest.approx(want)
        assert NB201Table(dataset=alias, metric="synflow").query(cell) == pytest.approx(raw[ds][key]["synflow"])
        assert t.record(cell, ds) == raw[ds][key]
    if which == "min":
        assert t.query(cell) == pytest.approx(10.0)
    else:
        assert t.query(cell) == pytest.approx(91.09)


def test_query_accepts_objects_whose_str_is_the_arch_string(raw):
    key = next(iter(raw["cifar10"]))

    class Cell:
        def __str__(self):
            return key_to_str(key)

    t = NB201Table()
    assert t.query(Cell()) == pytest.approx(raw["cifar10"][key]["val_accuracy"])
    assert t.query("  " + key_to_str(key) + "\n") == pytest.approx(raw["cifar10"][key]["val_accuracy"])
    assert Cell() in t


def test_record_is_a_copy(raw):
    t = NB201Table()
    cell = t.archs()[0]
    rec = t.record(cell)
    rec["val_accuracy"] = -1
    assert t.query(cell) == pytest.approx(raw["cifar10"][next(iter(raw["cifar10"]))]["val_accuracy"])


def test_archs_len_and_coverage(raw):
    t = NB201Table()
    assert len(t) == 491
    assert t.archs() == [key_to_str(k) for k in raw["cifar10"]]
    cov = t.coverage()
    assert "\n" not in cov
    assert "491" in cov and "15,625" in cov and "cifar10" in cov and "val_accuracy" in cov
    assert "ImageNet16-120" in NB201Table("imagenet16-120").coverage()
    assert "params" in NB201Table(metric="params").coverage()


def test_cell_not_in_table_gives_none_and_an_explanation():
    t = NB201Table(match="exact")
    assert EMPTY not in t
    assert t.query(EMPTY) is None
    assert t.query(EMPTY, "cifar100") is None
    assert t.record(EMPTY) is None
    line = t.explain_missing(EMPTY)
    assert "\n" not in line
    assert "NASLib" in line and "491" in line and EMPTY in line
    covered = t.archs()[0]
    assert "covered" in t.explain_missing(covered)


def test_malformed_arch_raises_one_line():
    t = NB201Table()
    for bad in ["", "nor_conv_3x3", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "|none~0|+|none~0|+|none~0|none~1|none~2|"]:
        with pytest.raises(ArchError) as e:
            t.query(bad)
        one_line(e)
    assert "conv" in t.explain_missing("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_bad_dataset_and_metric():
    with pytest.raises(ArchError) as e:
        NB201Table(dataset="svhn")
    msg = one_line(e)
    assert "svhn" in msg and "cifar10" in msg and "cifar100" in msg and "imagenet16-120" in msg
    with pytest.raises(ArchError) as e:
        NB201Table().query(NB201Table().archs()[0], "mnist")
    one_line(e)
    with pytest.raises(ArchError) as e:
        NB201Table(metric="accuracy")
    msg = one_line(e)
    assert "val_accuracy" in msg and "synflow" in msg


def test_missing_and_corrupt_files(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ArchError) as e:
        NB201Table(path=str(missing))
    msg = one_line(e)
    assert str(missing) in msg and "NASLib" in msg

    for name, text in [("truncated.json", '{"nasbench201": {"cifar10": {"(0, 0'),
                       ("wrong_top.json", '{"nasbench101": {}}'),
                       ("bad_key.json", '{"nasbench201": {"cifar10": {"(0, 7, 0, 0, 0, 0)": {"val_accuracy": 1}}}}'),
                       ("not_json.json", "\x00\x01 binary")]:
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(ArchError) as e:
            NB201Table(path=str(p))
        msg = one_line(e)
        assert str(p) in msg and "zc_nasbench201.json" in msg


def test_other_file_in_naslib_format(tmp_path, raw):
    keys = list(raw["cifar10"])[:3]
    sub = {"nasbench201": {"cifar10": {k: raw["cifar10"][k] for k in keys}}}
    p = tmp_path / "mine.json"
    p.write_text(json.dumps(sub))
    t = NB201Table(path=str(p))
    assert len(t) == 3 and t.archs() == [key_to_str(k) for k in keys]
    assert t.query(key_to_str(keys[1])) == pytest.approx(raw["cifar10"][keys[1]]["val_accuracy"])
    assert "3 of 15,625" in t.coverage() and str(p) in t.coverage()
    assert "3" in t.explain_missing(EMPTY) and str(p) in t.explain_missing(EMPTY)
    with pytest.raises(ArchError) as e:
        NB201Table(dataset="cifar100", path=str(p))
    assert "cifar100" in one_line(e)


def test_synflow_rank_correlation_on_cifar10():
    from scipy.stats import spearmanr

    t = NB201Table(metric="synflow")
    acc = NB201Table()
    cells = t.archs()
    rho = spearmanr([t.query(c) for c in cells], [acc.query(c) for c in cells]).statistic
    assert rho == pytest.approx(0.74, abs=0.01)


def test_table_is_built_from_yaml_like_lightningcli():
    from jsonargparse import ArgumentParser

    parser = ArgumentParser()
    parser.add_argument("--gt", type=GroundTruth)
    cfg = parser.parse_string(
        "gt:\n  class_path: unnas.spaces.nb201.benchmark.NB201Table\n"
        "  init_args:\n    dataset: imagenet16-120\n    metric: synflow\n")
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    gt = instantiate(cfg).gt
    assert isinstance(gt, NB201Table) and gt.dataset == "ImageNet16-120" and gt.metric == "synflow"
    parser.parse_string(
        "gt:\n  class_path: unnas.spaces.nb201.benchmark.NB201API\n"
        "  init_args:\n    path: /x.pth\n    dataset: cifar100\n    api: nats_bench\n")
    with pytest.raises(BaseException):
        parser.parse_string("gt:\n  class_path: unnas.spaces.nb201.benchmark.NB201API\n"
                            "  init_args:\n    path: /x.pth\n    api: tensorflow\n")


# ------------------------------------------------------------------------------------------------ the API adapter
CELL_A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
CELL_B = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


class FakeBenchAPI:
    """Stands in for ``nas_201_api.NASBench201API`` (nas-bench-201 2.1) and NATS-Bench's ``NATStopology``
    (nats_bench 1.8, from ``nats_bench.create(path, "tss", ...)``) at the calls the adapter makes:

    - ``query_index_by_arch(arch_str) -> int``: the index, ``-1`` for an unknown string;
    - ``get_more_info(index, dataset, iepoch=None, hp="12", is_random=True) -> dict`` with ``train-accuracy``,
      ``valid-accuracy`` (not for ``cifar10``), ``test-accuracy`` and ``valtest-accuracy`` (``cifar100`` and
      ``ImageNet16-120``) plus losses and times; ``ValueError`` for an index without results;
    - ``len(api)`` and ``api[i]`` (the i-th arch string).
    """

    def __init__(self, path=None, verbose=True):
        self.path, self.verbose = path, verbose
        self.meta_archs = [CELL_A, CELL_B, EMPTY]
        self.evaluated = {0, 1}
        self.calls = []

    def __len__(self):
        return len(self.meta_archs)

    def __getitem__(self, i):
        return self.meta_archs[i]

    def query_index_by_arch(self, arch):
        return self.meta_archs.index(arch) if arch in self.meta_archs else -1

    @staticmethod
    def value(index, dataset, split, hp):
        ds = {"cifar10-valid": 0, "cifar10": 1, "cifar100": 2, "ImageNet16-120": 3}[dataset]
        sp = {"train": 0.1, "valid": 0.2, "test": 0.3, "valtest": 0.4}[split]
        return 10.0 * index + ds + sp + (50 if hp == "200" else 0)

    def get_more_info(self, index, dataset, iepoch=None, hp="12", is_random=True):
        self.calls.append((index, dataset, iepoch, hp, is_random))
        if index not in self.evaluated:
            raise ValueError(f"Did not find {index} from arch2infos_dict.")
        splits = {"cifar10-valid": ("train", "valid", "test"), "cifar10": ("train", "test")}.get(
            dataset, ("train", "valid", "test", "valtest"))
        info = {}
        for s in splits:
            info[f"{s}-loss"] = 1.0
            info[f"{s}-accuracy"] = self.value(index, dataset, s, str(hp))
        return info


def test_api_adapter_with_fake_api_object():
    fake = FakeBenchAPI()
    gt = NB201API.from_api(fake)
    assert isinstance(gt, GroundTruth) and gt.space == "nb201"
    assert gt.query(CELL_A) == pytest.approx(FakeBenchAPI.value(0, "cifar10", "test", "200"))
    assert fake.calls[-1] == (0, "cifar10", None, "200", False)
    # dataset name mapping
    assert gt.query(CELL_B, "imagenet16-120") == pytest.approx(FakeBenchAPI.value(1, "ImageNet16-120", "test", "200"))
    assert fake.calls[-1][1] == "ImageNet16-120"
    assert gt.query(CELL_B, "cifar10-valid") == pytest.approx(FakeBenchAPI.value(1, "cifar10-valid", "test", "200"))
    # metric and hp selection
    valid = NB201API.from_api(fake, dataset="cifar100", metric="valid", hp="12")
    assert valid.query(CELL_A) == pytest.approx(FakeBenchAPI.value(0, "cifar100", "valid", "12"))
    assert fake.calls[-1] == (0, "cifar100", None, "12", False)
    assert NB201API.from_api(fake, dataset="ImageNet16-120", metric="valtest").query(CELL_B) == pytest.approx(
        FakeBenchAPI.value(1, "ImageNet16-120", "valtest", "200"))
    assert NB201API.from_api(fake, metric="train").query(CELL_A) == pytest.approx(
        FakeBenchAPI.value(0, "cifar10", "train", "200"))
    assert NB201API.from_api(fake, metric="test-accuracy").query(CELL_A) == pytest.approx(
        FakeBenchAPI.value(0, "cifar10", "test", "200"))
    # an object whose str() is the arch string
    assert gt.query(_Str(CELL_A)) == gt.query(CELL_A)
    # cells the API does not know, or knows without results
    other = "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert gt.query(other) is None
    assert "not in" in gt.explain_missing(other)
    assert gt.query(EMPTY) is None
    assert "index 2" in gt.explain_missing(EMPTY)
    assert gt.info(CELL_A)["test-accuracy"] == gt.query(CELL_A)
    assert gt.archs() == [CELL_A, CELL_B, EMPTY] and len(gt) == 3
    assert "3 of 15,625" in gt.coverage() and "test" in gt.coverage()


class _Str:
    def __init__(self, s):
        self.s = s

    def __str__(self):
        return self.s


def test_api_adapter_settings_errors():
    fake = FakeBenchAPI()
    for kwargs, word in [({"dataset": "svhn"}, "cifar10-valid"), ({"metric": "loss"}, "valid"),
                         ({"hp": "100"}, "200"), ({"dataset": "cifar10", "metric": "valid"}, "cifar10-valid"),
                         ({"dataset": "cifar10-valid", "metric": "valtest"}, "cifar100")]:
        with pytest.raises(ArchError) as e:
            NB201API.from_api(fake, **kwargs)
        assert word in one_line(e)
    gt = NB201API.from_api(fake, metric="valid", dataset="cifar100")
    with pytest.raises(ArchError) as e:
        gt.query(CELL_A, "cifar10")
    one_line(e)
    with pytest.raises(ArchError) as e:
        gt.query("|nor_conv_3x3~0|")
    one_line(e)


def test_api_adapter_constructor_loads_through_the_package(tmp_path, monkeypatch):
    """The constructor's path: ``nas_201_api.NASBench201API(path, verbose=False)`` for a .pth file and
    ``nats_bench.create(path, "tss", fast_mode=<path is a directory>, verbose=False)`` otherwise (both faked)."""
    pth = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    pth.write_bytes(b"x")
    mod = types.ModuleType("nas_201_api")
    mod.NASBench201API = FakeBenchAPI
    mod.NAS_BENCH_201_API_VERSION = "v-fake"
    monkeypatch.setitem(sys.modules, "nas_201_api", mod)
    gt = NB201API(str(pth), dataset="cifar100")
    assert isinstance(gt._api, FakeBenchAPI) and gt._api.path == str(pth) and gt._api.verbose is False
    assert gt.query(CELL_A) == pytest.approx(FakeBenchAPI.value(0, "cifar100", "test", "200"))
    assert "nas_201_api v-fake" in gt.coverage()

    created = []

    def create(path, space, fast_mode=False, verbose=True):
        created.append((path, space, fast_mode, verbose))
        return FakeBenchAPI(path, verbose)

    nats = types.ModuleType("nats_bench")
    nats.create = create
    nats.version = lambda: "v-fake"
    monkeypatch.setitem(sys.modules, "nats_bench", nats)
    simple = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    simple.mkdir()
    gt = NB201API(str(simple))
    assert created[-1] == (str(simple), "tss", True, False)
    assert gt.query(CELL_B) == pytest.approx(FakeBenchAPI.value(1, "cifar10", "test", "200"))
    full = tmp_path / "NATS-tss-v1_0-3ffb9-full.pickle.pbz2"
    full.write_bytes(b"x")
    NB201API(str(full))
    assert created[-1] == (str(full), "tss", False, False)
    NB201API(str(pth), api="nats_bench")
    assert created[-1][0] == str(pth)

    def broken(path, space, fast_mode=False, verbose=True):
        raise ValueError("bad\nfile")

    nats.create = broken
    with pytest.raises(ArchError) as e:
        NB201API(str(simple))
    assert str(simple) in one_line(e)


def test_api_adapter_missing_package(tmp_path, monkeypatch):
    pth = tmp_path / "b.pth"
    pth.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "nas_201_api", None)  # makes `import nas_201_api` raise ImportError
    monkeypatch.setitem(sys.modules, "nats_bench", None)
    with pytest.raises(ArchError) as e:
        NB201API(str(pth))
    assert "pip install nas-bench-201" in one_line(e)
    with pytest.raises(ArchError) as e:
        NB201API(str(tmp_path))
    assert "pip install" in one_line(e) and "nats_bench" in one_line(e)


def test_api_adapter_missing_file(tmp_path):
    missing = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    with pytest.raises(ArchError) as e:
        NB201API(path=str(missing))
    msg = one_line(e)
    assert str(missing) in msg and "does not exist" in msg


# ------------------------------------------------------------------------------------------------ the real packages
def _tiny_archresults(mod, index, arch, seeds=(777, 888)):
    """An ``ArchResults`` of the package *mod* (``nas_201_api`` or ``nats_bench.api_utils``) for one cell, two
    trials of two epochs on the four datasets; accuracy = 10*index + dataset + split/10 + 2*(trial) at the last
    epoch, 5 less at the first, so the trial mean at the last epoch is 10*index + dataset + split/10 + 1."""
    ds_sets = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
               "cifar100": ("x-valid", "x-test", "ori-test"), "ImageNet16-120": ("x-valid", "x-test", "ori-test")}
    ds_val = {"cifar10-valid": 0, "cifar10": 1, "cifar100": 2, "ImageNet16-120": 3}
    set_val = {"train": 0.1, "x-valid": 0.2, "x-test": 0.3, "ori-test": 0.4}
    res = mod.ArchResults(index, arch)
    for ds, sets in ds_sets.items():
        for t, seed in enumerate(seeds):
            def acc(s, e):
                return 10.0 * index + ds_val[ds] + set_val[s] + 2 * t - (5 if e == 0 else 0)
            rc = mod.ResultsCount(ds, None, {e: acc("train", e) for e in range(2)}, {e: 1.0 for e in range(2)},
                                  0.5, 10.0, {"arch_str": arch}, seed, 2, None)
            rc.update_eval({f"{s}@{e}": acc(s, e) for s in sets for e in range(2)},
                           {f"{s}@{e}": 1.0 for s in sets for e in range(2)},
                           {f"{s}@{e}": 0.1 for s in sets for e in range(2)})
            res.update(ds, seed, rc)
    return res


def _want(index, ds, split):
    ds_val = {"cifar10-valid": 0, "cifar10": 1, "cifar100": 2, "ImageNet16-120": 3}
    return 10.0 * index + ds_val[ds] + split + 1


def test_real_nas_201_api_package(tmp_path):
    """Through the installed nas-bench-201 package: torch.load of a tiny benchmark file in its format."""
    nas_201_api = pytest.importorskip("nas_201_api")
    import torch

    assert hasattr(nas_201_api, "NASBench201API") and "FakeBenchAPI" not in repr(nas_201_api.NASBench201API)
    with pytest.raises(ArchError) as e:
        NB201API(path=str(tmp_path / "NAS-Bench-201-v1_1-096897.pth"))
    one_line(e)

    archs = [CELL_A, CELL_B]
    infos = {i: {"less": _tiny_archresults(nas_201_api, i, a).state_dict(),
                 "full": _tiny_archresults(nas_201_api, i, a).state_dict()} for i, a in enumerate(archs)}
    path = tmp_path / "NAS-Bench-201-tiny.pth"
    torch.save({"meta_archs": archs, "arch2infos": infos, "evaluated_indexes": [0, 1]}, str(path))
    gt = NB201API(str(path))
    assert gt.api_label.startswith("nas_201_api ")
    assert gt.archs() == archs and len(gt) == 2
    assert gt.query(CELL_A) == pytest.approx(_want(0, "cifar10", 0.4))  # ori-test
    assert gt.query(CELL_B, "cifar100") == pytest.approx(_want(1, "cifar100", 0.3))  # x-test
    assert gt.query(CELL_B, "cifar10-valid") == pytest.approx(_want(1, "cifar10-valid", 0.4))
    assert NB201API(str(path), dataset="cifar10-valid", metric="valid").query(CELL_A) == pytest.approx(
        _want(0, "cifar10-valid", 0.2))
    assert NB201API(str(path), dataset="imagenet16-120", metric="valtest").query(CELL_A) == pytest.approx(
        _want(0, "ImageNet16-120", 0.4))
    assert gt.query(EMPTY) is None


def test_real_nats_bench_package(tmp_path):
    """Through the installed nats_bench package: a tiny ``-simple`` archive directory and a ``.pickle.pbz2`` file."""
    nats_bench = pytest.importorskip("nats_bench")
    from nats_bench import api_utils

    assert callable(nats_bench.create)
    archs = [CELL_A, CELL_B]
    simple = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    simple.mkdir()
    api_utils.pickle_save({"meta_archs": archs}, str(simple / "meta.pickle"))
    for i, a in enumerate(archs):
        api_utils.pickle_save({"12": _tiny_archresults(api_utils, i, a).state_dict(),
                               "200": _tiny_archresults(api_utils, i, a).state_dict()},
                              str(simple / f"{i:06d}.pickle"))
    gt = NB201API(str(simple), dataset="ImageNet16-120")
    assert gt.api_label.startswith("nats_bench ")
    assert gt.query(CELL_B) == pytest.approx(_want(1, "ImageNet16-120", 0.3))
    assert gt.query(CELL_A, "cifar10") == pytest.approx(_want(0, "cifar10", 0.4))
    assert gt.query(EMPTY) is None and gt.archs() == archs

    full = tmp_path / "NATS-tss-v1_0-3ffb9-full.pickle"  # pickle_save appends ".pbz2"
    api_utils.pickle_save({"meta_archs": archs, "evaluated_indexes": [0, 1],
                           "arch2infos": {i: {"12": _tiny_archresults(api_utils, i, a).state_dict(),
                                              "200": _tiny_archresults(api_utils, i, a).state_dict()}
                                          for i, a in enumerate(archs)}}, str(full))
    gt = NB201API(str(full) + ".pbz2", dataset="cifar100", metric="valid", hp="12")
    assert gt.query(CELL_A) == pytest.approx(_want(0, "cifar100", 0.2))
    assert math.isfinite(gt.query(CELL_B))


def test_isomorphic_match_answers_with_the_mean_of_the_isomorphic_table_cells(raw):
    from unnas.spaces.nb201.cell import canonical, enumerate_cells, parse_cell

    exact, iso = NB201Table(match="exact"), NB201Table()
    groups = {}
    for k, rec in raw["cifar10"].items():
        groups.setdefault(canonical(parse_cell(key_to_str(k))), []).append(rec["val_accuracy"])
    outside = [c for c in enumerate_cells() if str(c) not in exact and canonical(c) in groups]
    assert len(outside) + 491 == 5496  # the coverage the docs state
    for cell in outside[:: len(outside) // 25]:
        expected = sum(groups[canonical(cell)]) / len(groups[canonical(cell)])
        assert exact.query(cell) is None
        value, how = iso.lookup(cell)
        assert value == pytest.approx(expected) and how.startswith("isomorphic to")
        assert "covered" in iso.explain_missing(cell)
    # a table cell answers with its own value, not its group's mean
    key = next(k for k in raw["cifar10"] if len(groups[canonical(parse_cell(key_to_str(k)))]) > 2)
    member = key_to_str(key)
    assert iso.lookup(member) == (pytest.approx(raw["cifar10"][key]["val_accuracy"]), "exact")
    assert raw["cifar10"][key]["val_accuracy"] != pytest.approx(sum(groups[canonical(parse_cell(member))]) / len(groups[canonical(parse_cell(member))]))
    # every cell whose output is cut off from its input is isomorphic to the table's chance-level cells
    assert iso.query(EMPTY) == pytest.approx(10.0)
    assert "5,496" in iso.coverage() and "5,496" not in exact.coverage()
    with pytest.raises(ArchError, match="match"):
        NB201Table(match="nearest")
