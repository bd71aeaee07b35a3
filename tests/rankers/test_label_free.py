"""label_free: its six components are the standalone rankers' scores on its own Gaussian batch, it reads no
image, it is the log-rank sum against its reference through ``unnas rank`` and a study's YAML; ``unnas rank``'s
arch sets and ``--out`` resume."""

import io
import json

import pytest
import torch

from unnas.cli import main
from unnas.errors import ConfigError
from unnas.rankers import RANKERS, LabelFree, RankBatch, gaussian_batch
from unnas.rankers.aggregate import calibrate, combine, reference_rank
from unnas.rankers.aznas import seeded_scores
from unnas.spaces import NB201Space


def _net(space, cell, seed):
    torch.manual_seed(seed)
    return space.network(cell)


def test_components_are_the_standalone_scores_on_a_seeded_gaussian_batch():
    space = NB201Space(channels=4, layers=1)
    cell = space.sample(1, 7)[0]
    net = _net(space, cell, 3)
    images = torch.rand(20, 3, 32, 32) * 255  # far from a Gaussian batch: label_free must not read it
    got = LabelFree(seed=3).component_scores(net, RankBatch(images, torch.zeros(20, dtype=torch.long)))
    noise = gaussian_batch((3, 32, 32), 64, 10, seed=3)  # unnas rank's batch of the same seed
    az = seeded_scores(net, RankBatch(noise.images[:16], noise.labels[:16]), seed=3)
    assert got[:3] == [az.expressivity, az.progressivity, az.trainability]
    assert got[3] == RANKERS["az_complexity"]().score(net, noise) == RANKERS["macs"]().score(net, noise)
    assert got[4] == RANKERS["meco_opt"](seed=3).score(net, noise)
    assert got[5] == RANKERS["synflow"](seed=3).score(net, noise)
    assert LabelFree(seed=4).component_scores(net, noise)[0] != got[0]  # the seed reaches the AZ-NAS pass
    assert not LabelFree.needs_images and not LabelFree().needs_images
    with pytest.raises(ConfigError, match="az_batch"):
        LabelFree(az_batch=1)


def _rank(argv, stdin=""):
    out = io.StringIO()
    code = main(["rank", *argv], out=out, stdin=io.StringIO(stdin))
    return code, out.getvalue()


def test_label_free_through_unnas_rank_is_the_log_rank_sum_against_the_reference():
    code, text = _rank(["nb201/00031", "nb201_resnet", "--space", "nb201", "--rankers", "label_free,meco_opt",
                        "--channels", "4", "--layers", "1", "--json", "--seed", "1"])
    rows = [json.loads(line) for line in text.splitlines()]
    space = NB201Space(channels=4, layers=1)
    ranker = LabelFree(seed=1)
    batch = gaussian_batch((3, 32, 32), 64, 10, seed=1)
    reference = [ranker.component_scores(_net(space, c, 1), batch) for c in space.sample(128, seed=0)]
    for row, cell in zip(rows, ("nb201/00031", "nb201_resnet")):
        values = ranker.component_scores(_net(space, space.load(cell), 1), batch)
        expected = combine([reference_rank([r[j] for r in reference], v) for j, v in enumerate(values)],
                           "log_rank_sum")
        assert row["label_free"] == pytest.approx(expected, rel=1e-12)
        assert row["meco_opt"] == values[4]
    assert rows[1]["label_free"] > rows[0]["label_free"]  # the ResNet cell beats a cell of 'none' and pooling


def test_label_free_from_a_study_config():
    from unnas.study.ranker_tasks import build_ranker

    cfg = {"ranker": {"class_path": "unnas.rankers.LabelFree", "init_args": {"reference": 6, "az_batch": 8}},
           "space": {"class_path": "unnas.spaces.NB201Space", "init_args": {"channels": 4, "layers": 1}},
           "input_shape": [3, 16, 16], "num_classes": 10, "batch_size": 4}
    ranker, space, _ = build_ranker(cfg, "test")
    assert isinstance(ranker, LabelFree) and ranker.az_batch == 8 and ranker.reference == 6
    ranker.seed = 2
    batch = gaussian_batch((3, 16, 16), 4, 10, seed=2)
    calibrate(ranker, space, space.network, batch)
    scores = [ranker.score(_net(space, c, 2), batch) for c in space.sample(6, seed=0)]
    # the reference architectures themselves: each ranked among the reference with itself counted once more
    assert all(s <= 0 for s in scores) and len(set(scores)) > 1


def test_rank_takes_a_space_set_and_resumes_into_out(tmp_path):
    out = tmp_path / "ranked.jsonl"
    args = ["--space", "nb201", "--rankers", "params", "--channels", "4", "--layers", "1", "--json", "--out",
            str(out)]
    assert _rank(["nb201-table:3", *args])[1] == ""  # the lines go to the file
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(first) == 3 and all(set(r) == {"genotype", "params"} for r in first)
    with open(out, "a") as f:
        f.write('{"genotype": "nb201/0')  # a run killed while writing
    _rank(["nb201-table:3", "nb201-table:5", *args])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    labels = [r["genotype"] for r in rows]
    expected = [label for label, _ in NB201Space().arch_set("nb201-table:5")]
    assert labels[:3] == [r["genotype"] for r in first] and sorted(set(labels)) == sorted(set(labels[:3]) | set(expected))
    assert len(labels) == len(set(labels))  # nothing scored twice
    assert main(["rank", "nb201-table:3", *args[:3], "params,macs", *args[4:]], out=io.StringIO()) == 2
    assert [json.loads(line)["genotype"] for line in out.read_text().splitlines()] == labels  # left as it was


@pytest.mark.parametrize("space_name,shape,arch", [
    ("nb201", {"channels": 4, "layers": 1}, "nb201_resnet"),
    ("darts", {"channels": 4, "layers": 3}, "darts_v2"),
    ("nb101", {"channels": 4, "layers": 1, "stacks": 2}, None),
])
@pytest.mark.parametrize("name", ["label_free", "az_nas"])
def test_every_space_calibrates_and_scores(space_name, shape, arch, name):
    from unnas.spaces import space_class

    space = space_class(space_name)(**shape)
    arch = space.load(arch) if arch else space.sample(1, seed=3)[0]
    ranker = RANKERS[name](reference=3, seed=1)
    batch = gaussian_batch((3, 32, 32), 8, 10, seed=1)
    calibrate(ranker, space, space.network, batch)
    score = ranker.score(_net(space, arch, 1), batch)
    assert len(ranker.reference_scores) == len(ranker.components) and -20 < score <= 0
