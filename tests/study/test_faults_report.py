"""``unnas study report --reference`` with a file that is missing, not JSON, or not ``{arch: accuracy}``: one line
naming the file and the shape it needs, before the store or W&B is read."""

import io
import json

import pytest

from unnas.cli import main
from unnas.study.store import Store


@pytest.fixture
def study(tmp_path):
    store = Store.create(str(tmp_path / "study"), [(f"a{i}", "{}") for i in range(3)], ["supervised"], [1],
                         meta={"space": "darts", "tasks": ["supervised"], "seeds": [1]})
    for i in range(3):
        assert store.record(store.find(f"a{i}", "supervised", 1), {"best_acc": 0.5 + i / 10})
    return store.directory


@pytest.mark.parametrize("content, problem", [
    (None, "cannot read it (No such file or directory)"),
    ("arch,accuracy\na0,71.2\n", "not JSON (Expecting value at line 1 column 1)"),
    (b"\xff\xfe{}", "not UTF-8 text"),
    ("[71.2, 70.1]", "it holds a JSON list, not an object"),
    ('"a0"', "it holds a JSON str, not an object"),
    ('{"a0": {"acc": 71.2}}', "the accuracy of 'a0' is {\"acc\": 71.2}, not a number"),
    ('{"a0": [71.2]}', "the accuracy of 'a0' is [71.2], not a number"),
    ('{"a0": "high"}', "the accuracy of 'a0' is \"high\", not a number"),
    ('{"a0": true}', "the accuracy of 'a0' is true, not a number"),
    ("{}", "it holds no accuracy"),
    ('{"a0": null}', "it holds no accuracy"),
    ('{"a0": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
])
def test_a_bad_reference_file_is_one_line(tmp_path, capsys, study, content, problem):
    path = tmp_path / "reference.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code = main(["study", "report", study, "--out", str(tmp_path / "report"), "--reference", str(path)],
                out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"unnas: error: --reference {path}: {problem}")
    assert err.strip().endswith('give a JSON object {"arch id": accuracy, ...}, e.g. {"unnas500/00004": 74.1}')
    assert not (tmp_path / "report").exists()


def test_a_reference_file_maps_archs_to_numbers_or_null(tmp_path):
    from unnas.study.report.files import ReferenceFileError, read_reference

    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"a0": 71.25, "a1": None, "a2": "70.5", "7": 3}))
    assert read_reference(str(path)) == {"a0": 71.25, "a1": None, "a2": 70.5, "7": 3.0}
    assert issubclass(ReferenceFileError, ValueError)
