"""docs/results/nb201-strategies/run.sh with a stand-in ``unnas`` on the PATH: several copies at once share the
runs (each run made once), a held lock keeps the others off a run, a lock file left by a stopped run does not,
and every search gets the thread count asked for."""

import fcntl
import json
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_SH = os.path.join(ROOT, "docs", "results", "nb201-strategies", "run.sh")

pytestmark = pytest.mark.skipif(shutil.which("flock") is None or shutil.which("bash") is None,
                                reason="run.sh needs bash and flock")

# The stand-in: records the run it was asked for and its arguments, then writes what a finished search writes.
FAKE_UNNAS = r"""#!/usr/bin/env bash
for a in "$@"; do case "$a" in --trainer.logger=*) logger="${a#--trainer.logger=}";; esac; done
dir=$(python3 -c 'import json, sys; d = json.loads(sys.argv[1])[0]["init_args"]; print(d["save_dir"], d["name"],
    sep="/")' "$logger")
echo "$(basename "$dir") $*" >> "$CALLS"
sleep 0.2
mkdir -p "$dir/version_0"
echo '{"space": "nb201", "arch": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"}' > "$dir/version_0/genotype.json"
"""


@pytest.fixture
def setup(tmp_path):
    bin_dir, script_dir = tmp_path / "bin", tmp_path / "script"
    bin_dir.mkdir()
    script_dir.mkdir()
    (bin_dir / "unnas").write_text(FAKE_UNNAS)
    (bin_dir / "unnas").chmod(0o755)
    shutil.copy(RUN_SH, script_dir / "run.sh")
    (script_dir / "summarize.py").write_text("print('summary')\n")  # run.sh ends with the summary beside it
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CALLS": str(tmp_path / "calls"),
           "SEEDS": "1 2", "STRATEGIES": "darts gdas", "OBJECTIVES": "supervised rotation", "THREADS": "1",
           "OUT": str(tmp_path / "out"), "LOGS": str(tmp_path / "logs")}
    return tmp_path, script_dir / "run.sh", env


def _start(script, env):
    return subprocess.Popen(["bash", str(script), "data"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _calls(tmp_path):
    lines = (tmp_path / "calls").read_text().splitlines() if (tmp_path / "calls").exists() else []
    return [line.split(" ", 1) for line in lines]


NAMES = {f"{s}_{o}_seed{seed}" for s in ("darts", "gdas") for o in ("supervised", "rotation") for seed in (1, 2)}


def test_two_copies_at_once_make_every_run_once_with_the_threads_asked_for(setup):
    tmp_path, script, env = setup
    procs = [_start(script, env), _start(script, env)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    calls = _calls(tmp_path)
    assert sorted(name for name, _ in calls) == sorted(NAMES)  # each run once, none twice
    assert all("--threads=1" in args.split() and "--seed_everything=" + name[-1] in args.split()
               for name, args in calls)
    searches = tmp_path / "out" / "searches"
    assert sorted(os.listdir(searches)) == sorted(NAMES)  # no lock file left behind
    for name in NAMES:
        seconds = json.loads((searches / name / "version_0" / "cpu_seconds.json").read_text())
        assert seconds["threads"] == 1 and seconds["wall_s"] >= 0.2
    # a second pass finds every run finished and makes none
    again = _start(script, env)
    assert again.wait(timeout=60) == 0 and len(_calls(tmp_path)) == len(NAMES)


def test_a_held_lock_keeps_a_run_off_and_a_lock_file_left_unlocked_does_not(setup):
    tmp_path, script, env = setup
    searches = tmp_path / "out" / "searches"
    searches.mkdir(parents=True)
    (searches / "darts_rotation_seed1.lock").write_text("")  # left by a run that was stopped: nobody holds it
    with open(searches / "gdas_supervised_seed2.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another copy is making this run right now
        proc = _start(script, env)
        assert proc.wait(timeout=120) == 0
    made = {name for name, _ in _calls(tmp_path)}
    assert made == NAMES - {"gdas_supervised_seed2"}
    assert not (searches / "darts_rotation_seed1.lock").exists()  # finished, so its lock file went
