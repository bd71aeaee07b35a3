"""NB201Space behind the search-space seam: loading every form, recognition, the registry and its named cells,
sampling, architecture sets over the benchmark table, ground truth, networks at the space's shape, drawing."""

import json

import pytest

from unnas.errors import ConfigError
from unnas.spaces.base import ArchError, SearchSpace, detect_space, space_class
from unnas.spaces.complexity import count_params
from unnas.spaces.nb201 import NAMED_CELLS, NB201Cell, NB201Space, canonical, cell_index, parse_cell, to_naslib
from unnas.spaces.nb201.draw import draw_cell

DOCS = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def space():
    return NB201Space()


def test_registered_and_shaped(space):
    assert space_class("nb201") is NB201Space and isinstance(space, SearchSpace)
    assert space.shape() == {"channels": 16, "layers": 5}
    assert NB201Space(channels=8, layers=2).shape() == {"channels": 8, "layers": 2}
    assert {k: (d.num_classes, d.image_size, d.style) for k, d in space.datasets.items()} == {
        "cifar10": (10, 32, "cifar"), "cifar100": (100, 32, "cifar"), "imagenet16-120": (120, 16, "cifar")}
    for bad in ({"channels": 0}, {"layers": -1}, {"layers": 2.5}):
        with pytest.raises(ConfigError):
            NB201Space(**bad)


def test_notation_round_trips(space, tmp_path):
    cell = space.parse(DOCS)
    assert space.format(cell) == DOCS and space.parse(space.format(cell)) == cell
    assert space.from_dict(space.to_dict(cell)) == cell
    assert space.from_dict(json.loads(space.to_json(cell))) == cell
    assert space.is_arch(cell) and not space.is_arch(DOCS) and not space.is_arch(NB201Cell(*["conv"] * 6))
    naslib = str(to_naslib(cell))
    path = tmp_path / "cell.json"
    path.write_text(space.to_json(cell))
    for spec in (cell, DOCS, f"  {DOCS} ", naslib, space.to_json(cell), space.to_dict(cell), str(path),
                 json.dumps({"space": "nb201", "naslib": list(to_naslib(cell))}), f"nb201/{cell_index(cell):05d}"):
        assert space.load(spec) == cell, spec


@pytest.mark.parametrize("spec,needle", [
    ("nb201/99999", "nb201/00000 to nb201/15624"),
    ("nb201/42", "5 digits"),
    ("|none~0|", "3 node groups"),
    ("missing.json", "does not exist"),
    ('{"space": "darts", "arch": "x"}', "for space 'darts'"),
])
def test_load_errors_are_one_line(space, spec, needle):
    with pytest.raises(ArchError) as info:
        space.load(spec)
    assert needle in str(info.value) and len(str(info.value).splitlines()) == 1


def test_recognition_and_detection(space):
    cell = space.parse(DOCS)
    for text in (DOCS, str(to_naslib(cell)), "(0,1,2,3,4,0)", space.to_json(cell), "nb201/00012", "nb201_resnet",
                 "|broken"):
        assert NB201Space.recognises(text), text
        assert detect_space(text) is NB201Space, text
    for text in ("Genotype(normal=[], normal_concat=[], reduce=[], reduce_concat=[])", "darts_v2",
                 '{"normal": []}', '{"space": "darts"}', "", "(a, b)"):
        assert not NB201Space.recognises(text), text
    assert detect_space(cell) is NB201Space


def test_registry_and_named_cells(space):
    reg = space.registry()
    assert len(reg) == 15625 + len(NAMED_CELLS)
    assert reg["nb201/00000"] == NB201Cell(*["none"] * 6) and reg["nb201/15624"] == NB201Cell(*["avg_pool_3x3"] * 6)
    assert "nb201/15625" not in reg and "nb201/1" not in reg
    assert space.listed_names() == list(NAMED_CELLS)
    assert set(NAMED_CELLS) <= set(reg)
    for name in NAMED_CELLS:
        assert space.describe(name) and space.load(name) == parse_cell(NAMED_CELLS[name][0])
    assert "15,625" in space.describe("nb201/00042")
    # the official genotypes.py cells, by hand: ResNet = conv3x3(x) -> conv3x3 -> + x
    assert space.load("nb201_resnet") == NB201Cell("nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "none",
                                                   "skip_connect")
    assert set(space.load("nb201_all_skip")) == {"skip_connect"}
    assert set(space.load("nb201_all_conv3x3")) == {"nor_conv_3x3"}
    # the ResNet cell computes x + conv3x3(conv3x3(x)) (official isomorphism key, zero terms kept as '#')
    assert canonical(space.load("nb201_resnet")) == "#+#+((0)@nor_conv_3x3)@nor_conv_3x3+0"


def test_sample(space):
    a = space.sample(12, seed=5)
    assert a == space.sample(12, seed=5) and len(set(a)) == 12 and a[:4] == space.sample(4, seed=5)


def test_arch_sets_over_the_table(space):
    assert space.arch_set("darts") is None and space.arch_set("unnas500") is None
    assert "nb201-table" in space.arch_set_help()
    table = space.arch_set("nb201-table")
    assert len(table) == 491
    archs = space.ground_truth().archs()
    assert [str(c) for _, c in table] == [str(parse_cell(a)) for a in archs]
    assert all(i == f"nb201/{cell_index(c):05d}" for i, c in table)
    assert all(space.load(i) == c for i, c in table[:20])
    even = space.arch_set("nb201-table:10")
    assert [c for _, c in even] == [table[int(k * 49.1)][1] for k in range(10)]
    drawn = space.arch_set("nb201-table:10:3")
    assert drawn == space.arch_set("nb201-table:10:3") and len({c for _, c in drawn}) == 10
    assert drawn != space.arch_set("nb201-table:10:4") and space.arch_set("nb201-table:4:3") == drawn[:4]
    assert {c for _, c in drawn} <= {c for _, c in table}
    sample = space.arch_set("nb201-sample:5:2")
    assert [c for _, c in sample] == space.sample(5, seed=2) and space.arch_set("nb201-sample:5") == space.arch_set(
        "nb201-sample:5:0")
    for bad in ("nb201-table:0", "nb201-table:492", "nb201-table:x", "nb201-sample:15626", "nb201-sample:3:2:1"):
        with pytest.raises(ArchError):
            space.arch_set(bad)


def test_ground_truth(space):
    truth = space.ground_truth()
    assert truth.space == "nb201"
    example = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|none~2|"
    assert truth.query(parse_cell(example)) == 75.3  # NASLib's table, key (4, 4, 1, 4, 3, 1)
    assert space.ground_truth("cifar100").query(parse_cell(example)) is not None
    assert truth.query(space.load("nb201_all_conv3x3")) is None  # not among the 491


def test_networks_at_the_space_shape(space):
    assert count_params(space.network("nb201_resnet")) == count_params(
        NB201Space(channels=16, layers=5).network(parse_cell(NAMED_CELLS["nb201_resnet"][0])))
    small = NB201Space(channels=4, layers=1)
    net = small.network(DOCS, num_classes=7, input_channels=1)
    assert net.C == 4 and net.N == 1 and net.stem[0].in_channels == 1 and net.head.classifier.out_features == 7
    sup = small.supernet(num_classes=7, input_channels=1)
    assert sup.C == 4 and sup.N == 1 and sup.stem[0].in_channels == 1 and sup.head.classifier.out_features == 7


def test_draw(space, tmp_path):
    out = tmp_path / "sub" / "cell.png"
    space.draw("nb201_resnet", str(out), title="resnet")
    assert out.stat().st_size > 1000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "cell.svg"
    draw_cell(DOCS, str(svg))
    assert b"<svg" in svg.read_bytes()[:500]
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.pdf"):
        space.draw(DOCS, str(tmp_path / "cell.jpg"))
    assert not (tmp_path / "cell.jpg").exists()
    fig = draw_cell(DOCS)
    assert len(fig.axes[0].texts) == 6 + 4  # 6 op labels + 4 nodes
    import matplotlib.pyplot as plt

    plt.close(fig)
