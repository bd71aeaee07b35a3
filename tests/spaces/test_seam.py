"""The search-space seam: every registered space keeps the same contract, and spaces are recognised from their
notation without being named."""

import json

import numpy as np
import pytest
import torch

from unnas.errors import ConfigError
from unnas.spaces import (ArchError, DartsSpace, NB101Space, NB201Space, detect_space, read_arch_lines, space_class,
                          space_names)
from unnas.spaces.darts import Genotype, NetworkCIFAR, NetworkImageNet, get_genotype
from unnas.spaces.darts import DartsSupernet

SPACES = [DartsSpace, NB201Space, NB101Space]


def test_the_registry_holds_every_space_once():
    assert space_names() == ["darts", "nb201", "nb101"]
    assert [space_class(n) for n in space_names()] == SPACES
    with pytest.raises(ArchError, match="unknown search space 'nb999'; known spaces: darts, nb201, nb101"):
        space_class("nb999")


@pytest.mark.parametrize("cls", SPACES, ids=lambda c: c.name)
def test_notation_json_and_files_round_trip_exactly(cls, tmp_path):
    space = cls()
    archs = space.sample(20, seed=3)
    assert len(set(archs)) == 20 and archs == space.sample(20, seed=3) and archs[:5] == space.sample(5, seed=3)
    assert archs != space.sample(20, seed=4)
    for i, arch in enumerate(archs):
        assert space.parse(space.format(arch)) == arch
        assert space.from_dict(json.loads(space.to_json(arch))) == arch
        assert space.load(space.to_json(arch)) == arch and space.load(space.format(arch)) == arch
        assert detect_space(space.format(arch)) is cls and detect_space(space.to_json(arch)) is cls
        assert detect_space(arch) is cls
        # a path that exists is a file, whatever its name looks like; a UTF-8 BOM is allowed
        path = tmp_path / f"run ({i})" / "genotype.json"
        path.parent.mkdir()
        path.write_bytes(b"\xef\xbb\xbf" + space.to_json(arch).encode())
        assert space.load(str(path)) == arch and detect_space(str(path)) is cls


@pytest.mark.parametrize("cls", SPACES, ids=lambda c: c.name)
def test_registered_names_load_and_describe_themselves(cls):
    space = cls()
    for name in space.listed_names():
        arch = space.load(name)
        assert space.is_arch(arch) and detect_space(name) is cls and space.describe(name)


@pytest.mark.parametrize("cls", SPACES, ids=lambda c: c.name)
def test_networks_and_supernets_follow_the_interface(cls):
    space = cls(channels=4, layers=3) if cls is DartsSpace else cls(channels=4, layers=1)
    arch = space.sample(1, seed=0)[0]
    net = space.network(arch, num_classes=7, input_channels=1)
    logits, aux = net(torch.randn(2, 1, 32, 32))
    assert logits.shape == (2, 7) and aux is None
    if not cls.searchable:
        with pytest.raises(ConfigError, match=f"the {cls.name} space has no weight-sharing supernet"):
            space.supernet(num_classes=7)
        return
    sn = space.supernet(num_classes=7)
    assert sn(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    weights = sn.arch_weights()
    alphas = sn.arch_parameters()
    assert [w.shape for w in weights.values()] == [tuple(a.shape) for a in alphas]
    for key, w in weights.items():
        np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
        assert len(sn.edge_labels(key)) == w.shape[0]
    arch_ids = {id(a) for a in alphas}
    assert all(id(p) not in arch_ids for p in sn.weight_parameters())
    assert space.is_arch(sn.genotype())


@pytest.mark.parametrize("text, space", [
    ("darts_v2", "darts"), ("unnas500/00004", "darts"), ("DARTS", "darts"),
    ("Genotype(normal=[('skip_connect', 0)] * 8, normal_concat=[2], reduce=[], reduce_concat=[])", "darts"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "nb201"),
    ("(2, 3, 0, 0, 2, 2)", "nb201"), ('{"space": "nb201", "arch": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"}', "nb201"),
    ("nb201/00042", "nb201"), ("nb201_resnet", "nb201"),
])
def test_spaces_are_recognised_from_the_argument(text, space):
    assert detect_space(text).name == space


def test_arch_lines_mix_spaces_and_errors_name_the_line():
    lines = ["# comment", "darts_v2", "", "nb201_resnet", json.dumps({"id": "mine", **get_genotype("darts_v1").to_dict()}),
             json.dumps({"id": "cell", "space": "nb201", "naslib": [2, 3, 0, 0, 2, 2]})]
    rows = list(read_arch_lines(lines, "archs.txt"))
    assert [(label, sp.name) for label, sp, _ in rows] == [
        ("darts_v2", "darts"), ("nb201_resnet", "nb201"), ("mine", "darts"), ("cell", "nb201")]
    assert isinstance(rows[2][2], Genotype) and rows[2][2] == get_genotype("darts_v1")
    with pytest.raises(ArchError, match=r"^archs.txt line 2: ") as e:
        list(read_arch_lines(["darts_v2", "|nor_conv_3x3~0|+|bad~0|"], "archs.txt"))
    assert "\n" not in str(e.value)
    # a fixed space parses every line with its own notation
    with pytest.raises(ArchError, match="line 1"):
        list(read_arch_lines(["darts_v2"], "x", NB201Space()))


def test_a_new_space_needs_only_a_subclass_and_registration():
    from unnas.spaces.base import _SPACES, register_space

    @register_space
    class Toy(NB201Space):
        name = "toy"

    try:
        assert "toy" in space_names() and space_class("toy") is Toy
        with pytest.raises(ValueError, match="two search spaces are named 'toy'"):
            register_space(type("Other", (NB201Space,), {"name": "toy"}))
    finally:
        del _SPACES["toy"]


_DARTS_NET = "the cells at layers//3 and 2*layers//3 are reductions, and fewer cells leave no normal cell"


@pytest.mark.parametrize("make, message", [
    (lambda: DartsSpace(channels=0), "DARTS channels must be a positive integer, got 0"),
    (lambda: DartsSpace(channels=-3), "DARTS channels must be a positive integer, got -3"),
    (lambda: DartsSpace(channels=True), "DARTS channels must be a positive integer, got True"),
    (lambda: DartsSpace(layers=0), "DARTS layers must be a positive integer, got 0"),
    (lambda: DartsSpace(layers=1), f"layers=1 is too small: a DARTS network needs at least 3 cells ({_DARTS_NET})"),
    (lambda: DartsSpace(layers=2), f"layers=2 is too small: a DARTS network needs at least 3 cells ({_DARTS_NET})"),
    (lambda: DartsSpace(steps=0), "DARTS steps must be a positive integer, got 0"),
    (lambda: DartsSpace(multiplier=0), "DARTS multiplier must be a positive integer, got 0"),
    (lambda: DartsSpace(steps=2, multiplier=3),
     "multiplier=3 exceeds steps=2: a search cell concatenates its last `multiplier` nodes and has only `steps`; "
     "use a multiplier of 1..2"),
    (lambda: DartsSpace(stem_multiplier=0), "DARTS stem_multiplier must be a positive integer, got 0"),
    (lambda: DartsSpace(network="imagenet", channels=7),
     "channels=7 is odd: DARTS's ImageNet network needs an even channel count (its first stem conv has C/2 channels "
     "and its first cell halves input 0 with FactorizedReduce)"),
    (lambda: NB201Space(channels=0), "NAS-Bench-201 channels must be a positive integer, got 0"),
    (lambda: NB201Space(layers=0), "NAS-Bench-201 layers must be a positive integer, got 0"),
    (lambda: DartsSpace(channels=4, layers=3).network("darts_v2", num_classes=0),
     "NetworkCIFAR num_classes must be a positive integer, got 0"),
    (lambda: DartsSpace(channels=4, layers=3).network("darts_v2", input_channels=0),
     "NetworkCIFAR input_channels must be a positive integer, got 0"),
    (lambda: DartsSpace("imagenet", channels=4, layers=3).network("darts_v2", num_classes=0),
     "NetworkImageNet num_classes must be a positive integer, got 0"),
    (lambda: DartsSpace(channels=4, layers=3).supernet(input_channels=0),
     "DartsSupernet input_channels must be a positive integer, got 0"),
    (lambda: NB201Space(channels=4, layers=1).network("nb201_resnet", num_classes=0),
     "TinyNetwork num_classes must be a positive integer, got 0"),
    (lambda: NB201Space(channels=4, layers=1).supernet(input_channels=0),
     "NB201Supernet input_channels must be a positive integer, got 0"),
])
def test_impossible_sizes_are_one_config_error_line(make, message):
    from unnas.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        make()
    assert str(info.value) == message


@pytest.mark.parametrize("builder", [NetworkCIFAR, NetworkImageNet, DartsSupernet], ids=lambda c: c.__name__)
def test_darts_builders_check_their_sizes_themselves(builder):
    from unnas.errors import ConfigError

    genotype = () if builder is DartsSupernet else ("darts_v2",)
    with pytest.raises(ConfigError, match="^layers=2 is too small"):
        builder(*genotype, C=4, layers=2)
    with pytest.raises(ConfigError, match=f"^{builder.__name__} C must be a positive integer, got 0$"):
        builder(*genotype, C=0, layers=3)
    with pytest.raises(ConfigError, match=f"^{builder.__name__} num_classes must be a positive integer, got 0$"):
        builder(*genotype, C=4, layers=3, num_classes=0)


@pytest.mark.parametrize("make", [
    lambda: DartsSpace(channels=1, layers=3),   # reductions double C, so FactorizedReduce always gets an even count
    lambda: DartsSpace(channels=3, layers=4, steps=1, multiplier=1, stem_multiplier=1),
    lambda: DartsSpace("imagenet", channels=2, layers=3),
    lambda: NB201Space(channels=1, layers=1),   # stages double C; no NAS-Bench-201 cell op halves it
])
def test_the_smallest_accepted_shapes_build_and_run(make):
    space = make()
    net = space.network(space.sample(1, seed=0)[0], num_classes=2).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 16, 16))[0].shape == (1, 2)
        assert space.supernet(num_classes=2).eval()(torch.randn(1, 3, 16, 16)).shape == (1, 2)
    assert space.is_arch(space.supernet().genotype())


@pytest.mark.parametrize("cls, text", [(DartsSpace, '{"a": ' + "[" * 30000 + "]" * 30000 + "}"),
                                       (NB201Space, '{"a": ' + "[" * 30000 + "]" * 30000 + "}"),
                                       (NB201Space, '{"space": "nb201", "naslib": [' + "9" * 5000 + "]}")])
def test_hostile_json_is_one_arch_error_line(cls, text, tmp_path):
    for spec in (text, str(tmp_path / "arch.json")):
        (tmp_path / "arch.json").write_text(text)
        with pytest.raises(ArchError) as info:
            cls().load(spec)
        assert "\n" not in str(info.value) and len(str(info.value)) < 300
    with pytest.raises(ArchError, match="^x line 1: invalid JSON"):
        list(read_arch_lines([text], "x"))
