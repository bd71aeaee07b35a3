"""Scaling out against hostile and broken input: sbatch options and folder names that would add lines to the job
script or the sweep file, a machine without SLURM, result files nested too deeply; each a one-line error (or one
line per file left in place), never a traceback and never a shell line on a compute node."""

import glob
import io
import json
import os
import stat

import pytest
import yaml

from unnas.cli import main
from unnas.study import slurm
from unnas.study.result_files import ingest, result_path
from unnas.study.wandb_runs import WandbError, write_sweep_files

from study_helpers import make_study, one_line_error






def scripts(directory):
    return [open(f).read() for f in glob.glob(os.path.join(str(directory), "launch", "*", "logs", "*.sh"))]


# ------------------------------------------------------------------------------------------- sbatch options
@pytest.mark.parametrize("flags, message", [
    (["--slurm-arg", "x\ntouch INJECTED\n#=1"], "--slurm-arg key 'x\\ntouch INJECTED\\n#' is not an sbatch option"),
    (["--slurm-arg", "qos=long\ntouch INJECTED"], "--slurm-arg qos value 'long\\ntouch INJECTED' holds '\\n'"),
    (["--slurm-arg", "account=a\rtouch INJECTED"], "holds '\\r'"),
    (["--slurm-arg", "1x=2"], "--slurm-arg key '1x' is not an sbatch option name"),
    (["--slurm-arg", "acc ount=2"], "--slurm-arg key 'acc ount' is not an sbatch option name"),
    (["--partition", "gpu\ntouch INJECTED"], "--partition 'gpu\\ntouch INJECTED' holds '\\n'"),
])
def test_sbatch_options_cannot_add_a_line_to_the_job_script(tmp_path, capsys, mocked_slurm, flags, message):
    make_study(tmp_path)
    err = one_line_error(["study", "launch", str(tmp_path), "--slurm"] + flags, capsys)
    assert message in err
    assert scripts(tmp_path) == [] and slurm.read_submissions(str(tmp_path)) == []


def test_plain_sbatch_options_reach_the_job_script(tmp_path, mocked_slurm):
    make_study(tmp_path)
    code = main(["study", "launch", str(tmp_path), "--slurm", "--partition", "gpu", "--slurm-arg", "qos=long",
                 "--slurm-arg", "account=my-project_1"], out=io.StringIO())
    assert code == 0
    (script,) = scripts(tmp_path)
    assert "#SBATCH --qos=long" in script and "#SBATCH --account=my-project_1" in script


def test_a_study_folder_with_a_line_break_is_not_launched(tmp_path, capsys, mocked_slurm):
    folder = tmp_path / "study\ntouch INJECTED"
    make_study(folder)
    err = one_line_error(["study", "launch", str(folder), "--slurm"], capsys)
    assert "the study folder" in err and "holds '\\n'" in err
    assert scripts(folder) == []


# ------------------------------------------------------------------------------------------- no SLURM here
def fake_commands(tmp_path, monkeypatch, **commands):
    """A PATH holding only the given shell scripts (name -> body)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in commands.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.mark.parametrize("commands, message", [
    ({}, 'cannot submit to slurm: Could not detect "srun"'),
    ({"srun": "exit 0"}, "failed: [Errno 2] No such file or directory: 'sbatch'"),
    ({"srun": "exit 0", "sbatch": "echo 'sbatch: error: invalid partition specified: gpu' >&2; exit 1"},
     "sbatch: error: invalid partition specified: gpu"),
])
def test_launch_where_slurm_is_absent_or_refuses_is_one_line(tmp_path, capsys, monkeypatch, commands, message):
    pytest.importorskip("submitit")
    study = tmp_path / "study"
    make_study(study)
    fake_commands(tmp_path, monkeypatch, **commands)
    err = one_line_error(["study", "launch", str(study), "--slurm", "--partition", "gpu"], capsys)
    assert message in err
    assert slurm.read_submissions(str(study)) == []


# ------------------------------------------------------------------------------------------- W&B sweep files
@pytest.mark.parametrize("name", ["study\nmethod: random", "study\rx", "study\u2028x", "study\x00x"])
def test_sweep_files_refuse_folder_names_that_would_start_a_yaml_line(tmp_path, capsys, name):
    folder = str(tmp_path / "ok")
    make_study(folder)
    with pytest.raises(WandbError, match="the study folder"):
        write_sweep_files(name, str(tmp_path / "s.yaml"), ["a0"], ["rotation"], [1])
    err = one_line_error(["study", "sweep", folder, "--out", str(tmp_path / name) + ".yaml"], capsys)
    assert err.startswith("unnas: error: --out ")
    assert not glob.glob(str(tmp_path / "*.yaml"))
    assert main(["study", "sweep", folder, "--out", str(tmp_path / "s.yaml")], out=io.StringIO()) == 0
    assert yaml.safe_load(open(tmp_path / "s.yaml"))["method"] == "grid"


# ------------------------------------------------------------------------------------------- ingest
def test_ingest_leaves_a_result_file_nested_too_deeply_in_place(tmp_path, capsys):
    store = make_study(tmp_path)
    job_id = store.find("a0", "rotation", 1)
    os.makedirs(tmp_path / "results")
    with open(result_path(str(tmp_path), job_id), "w") as f:
        f.write('{"job_id": %d, "arch": "a0", "task": "rotation", "seed": 1, "result": {"best_acc": 0.5, "x": '
                % job_id + "[" * 100_000 + "]" * 100_000 + "}}")
    got = ingest(str(tmp_path))
    assert (got.recorded, got.problems) == (0, [f"results/{job_id}.json: nested too deeply to be a result; "
                                                f"left in place"])
    out = io.StringIO()
    assert main(["study", "ingest", str(tmp_path)], out=out) == 0
    assert out.getvalue().splitlines()[0] == "ingested 0 result files (0 already recorded, 1 left in place)"
    assert json.loads(json.dumps(store.results())) == []
