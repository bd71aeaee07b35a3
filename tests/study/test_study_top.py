"""A study whose architectures come from a ranker: ``--archs RANKED --top K [--by RANKER]``."""

import io
import json

import pytest

from unnas.cli import main
from unnas.study.archs import top_ranked
from unnas.study.store import StudyError


def _ranked(tmp_path, rows):
    path = tmp_path / "ranked.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_top_ranked_orders_by_the_score_and_keeps_the_file_order_on_ties(tmp_path):
    path = _ranked(tmp_path, [{"genotype": "nb201/00001", "a": 1.0, "b": 9.0},
                              {"genotype": "nb201/00002", "a": 3.0, "b": 1.0},
                              {"genotype": "nb201/00003", "a": 3.0, "b": None},
                              {"genotype": "nb201/00004", "a": 2.0, "b": 5.0}])
    assert top_ranked(path, 3, "a") == ["nb201/00002", "nb201/00003", "nb201/00004"]
    assert top_ranked(path, 9, "b") == ["nb201/00001", "nb201/00004", "nb201/00002"]  # a null score is left out
    with pytest.raises(StudyError, match="choose one with --by"):
        top_ranked(path, 1)
    with pytest.raises(StudyError, match="has no 'c' scores"):
        top_ranked(path, 1, "c")
    with pytest.raises(StudyError, match="at least 1"):
        top_ranked(path, 0, "a")
    other = tmp_path / "archs.txt"
    other.write_text("nb201/00001\n")
    with pytest.raises(StudyError, match="JSON lines of `unnas rank --json`"):
        top_ranked(str(other), 1)


def test_study_init_takes_the_top_of_a_ranked_file(tmp_path):
    path = _ranked(tmp_path, [{"genotype": f"nb201/{i:05d}", "label_free": float(-abs(i - 7))} for i in range(12)])
    out = io.StringIO()
    assert main(["study", "init", str(tmp_path / "s"), "--archs", path, "--top", "3", "--rankers", "params"],
                out=out) == 0
    from unnas.study.store import Store

    store = Store.of(str(tmp_path / "s"))
    assert sorted(a for a, _ in store.archs()) == ["nb201/00006", "nb201/00007", "nb201/00008"]
    assert main(["study", "add", str(tmp_path / "s"), "--archs", path, "--top", "4"], out=io.StringIO()) == 0
    assert len(list(Store.of(str(tmp_path / "s")).archs())) == 4
