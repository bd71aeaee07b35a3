"""The search-space seam: every registered space keeps the same contract, and spaces are recognised from their
notation without being named."""

import json

import numpy as np
import pytest
import torch

from unnas.spaces import (ArchError, DartsSpace, NB201Space, detect_space, read_arch_lines, space_class,
                          space_names)
from unnas.spaces.darts import Genotype, get_genotype

SPACES = [DartsSpace, NB201Space]


def test_the_registry_holds_every_space_once():
    assert space_names() == ["darts", "nb201"]
    assert [space_class(n) for n in space_names()] == SPACES
    with pytest.raises(ArchError, match="unknown search space 'nb101'; known spaces: darts, nb201"):
        space_class("nb101")


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
    ("nb201/00042", "nb201"), ("nb201_resnet", "nb201"), ("no_such_arch", "darts"),
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


def test_space_shape_errors_are_one_line():
    from unnas.errors import ConfigError

    with pytest.raises(ConfigError, match="layers=2 is too small"):
        DartsSpace(layers=2)
    with pytest.raises(ConfigError, match="channels must be at least 1"):
        DartsSpace(channels=0)
    with pytest.raises(ConfigError, match="NAS-Bench-201 channels must be a positive integer, got 0"):
        NB201Space(channels=0)
