"""The label-free frontier's records: every ranker's score of every architecture of each part, one JSON line each.

Run from the repository root (resumes: an architecture already in a part's records is not scored again):

    python docs/results/rankers/frontier/run.py --workers 2                 # every part
    python docs/results/rankers/frontier/run.py --parts nb201,nb201-reference --workers 2
    python docs/results/rankers/frontier/summarize.py                       # the tables of README.md

Each record is ``{"arch", "seed", <score>: value, "t_<score>": seconds, ...}`` in
``records/<part>-seed<seed>.jsonl``. Networks are built after ``torch.manual_seed(seed)``, the batch is
``unnas rank``'s (a seeded standard-normal batch of 64, ``gaussian_batch(shape, 64, classes, seed)``, or a seeded
batch of real CIFAR-10 images for the ``nb201-losses-*`` parts, which run ``unnas rank`` itself), so every score is
the one ``unnas rank ARCH --seed SEED`` prints at the same shape. The ``*-reference`` parts score the reference
sample an aggregate ranks against (``space.sample(128, seed=0)``); ``summarize.py`` computes ``label_free`` and
``az_nas`` from these records exactly as the rankers do (``Aggregate.combine``), and checks that against ``unnas
rank --rankers label_free`` on a few cells.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDS = os.path.join(HERE, "records")
SEEDS = (0, 1, 2, 3, 4)
#: the data-free scores of the main parts (label_free's components and the standalone rankers)
DATA_FREE = ("meco", "meco_opt", "synflow", "params", "macs", "az", "az16")
#: the costly rankers, on 100 evenly spaced table cells, one seed, a batch of 16
COSTLY = ("vkdnw", "te_ntk", "te_lr")
#: the loss-based rankers asked with labels and with each pretext objective's loss (real CIFAR-10 images)
LOSS_RANKERS = ("grad_norm", "snip", "grasp", "fisher", "zico", "gradsign")
OBJECTIVES = ("labels", "rotation", "jigsaw", "colorization", "contrastive", "random_labels")

PARTS: Dict[str, dict] = {
    "nb201": dict(space="nb201", shape={"channels": 16, "layers": 5}, archs="nb201-table", seeds=SEEDS,
                  scores=DATA_FREE, batch=64),
    "nb201-reference": dict(space="nb201", shape={"channels": 16, "layers": 5}, archs="nb201-sample:128",
                            seeds=SEEDS, scores=DATA_FREE, batch=64),
    "nb201-costly": dict(space="nb201", shape={"channels": 16, "layers": 5}, archs="nb201-table:100", seeds=(0,),
                         scores=COSTLY, batch=16),
    "nb201-swap": dict(space="nb201", shape={"channels": 16, "layers": 5}, archs="nb201-table:100", seeds=(0,),
                       scores=("swap",), batch=16),
    "nb101": dict(space="nb101", shape={"channels": 16}, archs="nb101-table", seeds=(0, 1), scores=DATA_FREE,
                  batch=64),
    "nb101-reference": dict(space="nb101", shape={"channels": 16}, archs="nb101-sample:128", seeds=(0, 1),
                            scores=DATA_FREE, batch=64),
    "darts": dict(space="darts", shape={"channels": 8, "layers": 5}, archs="cpu-study", seeds=SEEDS,
                  scores=DATA_FREE, batch=64),
    "darts-reference": dict(space="darts", shape={"channels": 8, "layers": 5}, archs="darts-sample:128",
                            seeds=SEEDS, scores=DATA_FREE, batch=64),
}
for _dataset, _classes, _side in (("cifar100", 100, 32), ("imagenet16-120", 120, 16)):  # the other two networks
    PARTS[f"nb201-{_dataset}"] = dict(space="nb201", shape={"channels": 16, "layers": 5}, archs="nb201-table",
                                      seeds=(0,), scores=DATA_FREE, batch=64, classes=_classes, side=_side,
                                      truth=_dataset)
    PARTS[f"nb201-{_dataset}-reference"] = dict(PARTS[f"nb201-{_dataset}"], archs="nb201-sample:128")
for _objective in OBJECTIVES:  # one part per loss, through `unnas rank` itself
    PARTS[f"nb201-losses-{_objective}"] = dict(space="nb201", shape={"channels": 16, "layers": 5},
                                               archs="nb201-table:60", seeds=(0,), objective=_objective, batch=32)
PARTS["nb201-swap-cifar10"] = dict(space="nb201", shape={"channels": 16, "layers": 5}, archs="nb201-table:100",
                                   seeds=(0,), objective="labels", batch=16, rankers=("swap",))  # real images
CPU_STUDY = os.path.join(HERE, "..", "..", "cifar10-cpu-study", "study", "study.sqlite")


def archs_of(part: dict) -> List[tuple]:
    """``(label, arch)`` of a part, in order."""
    from unnas.spaces import space_class

    space = space_class(part["space"])(**part["shape"])
    spec = part["archs"]
    if spec == "cpu-study":  # the DARTS-space CPU study's architectures, as its store holds them
        import sqlite3

        rows = sqlite3.connect(CPU_STUDY).execute("SELECT id, genotype FROM archs ORDER BY id").fetchall()
        return [(i, space.load(json.loads(g))) for i, g in rows]
    if spec.startswith("darts-sample:"):
        n = int(spec.split(":")[1])
        return [(f"sample/{i:03d}", g) for i, g in enumerate(space.sample(n, seed=0))]
    return list(space.arch_set(spec))


def done(path: str) -> set:
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {json.loads(line)["arch"] for line in f if line.strip()}


_STATE: dict = {}


def _init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def score(task) -> dict:
    """Every score of *part* on one architecture, timed one by one."""
    import torch

    from unnas.rankers import gaussian_batch, ranker_class
    from unnas.rankers.aznas import seeded_scores
    from unnas.spaces import space_class

    part_name, seed, label, arch = task
    part = PARTS[part_name]
    key = (part_name, seed)
    if key not in _STATE:
        space = space_class(part["space"])(**part["shape"])
        side = part.get("side", 32)
        _STATE[key] = (space, gaussian_batch((3, side, side), part["batch"], part.get("classes", 10), seed=seed))
    space, batch = _STATE[key]
    t = time.time()
    torch.manual_seed(seed)
    net = space.network(arch, num_classes=part.get("classes", 10))
    row = {"arch": label, "seed": seed, "t_build": time.time() - t}
    for name in part["scores"]:
        t = time.time()
        if name in ("az", "az16"):
            b = batch if name == "az" else type(batch)(batch.images[:16], batch.labels[:16])
            s = seeded_scores(net, b, seed)
            fields = ("expressivity", "progressivity", "trainability") + (("complexity",) if name == "az" else ())
            row.update({f"{name}_{f}": getattr(s, f) for f in fields})
        else:
            row[name] = ranker_class(name)(seed=seed).score(net, batch)
        row[f"t_{name}"] = time.time() - t
    return row


def run_scores(parts: List[str], workers: int, threads: int) -> None:
    from multiprocessing import get_context

    tasks, outs = [], {}
    for name in parts:
        part = PARTS[name]
        archs = archs_of(part)
        for seed in part["seeds"]:
            path = os.path.join(RECORDS, f"{name}-seed{seed}.jsonl")
            have = done(path)
            todo = [(name, seed, label, arch) for label, arch in archs if label not in have]
            outs[(name, seed)] = path
            tasks += todo
            print(f"{name} seed {seed}: {len(have)} of {len(archs)} scored, {len(todo)} to go", flush=True)
    if not tasks:
        return
    start = time.time()
    with get_context("spawn").Pool(workers, initializer=_init, initargs=(threads,)) as pool:
        for i, row in enumerate(pool.imap(score, tasks, chunksize=1)):
            part = tasks[i][0]
            with open(outs[(part, row["seed"])], "a") as f:
                f.write(json.dumps(row) + "\n")
            if (i + 1) % 25 == 0 or i + 1 == len(tasks):
                rate = (time.time() - start) / (i + 1)
                print(f"{i + 1}/{len(tasks)} ({part} seed {row['seed']}), {rate:.2f} s each, "
                      f"ETA {rate * (len(tasks) - i - 1) / 60:.1f} min", flush=True)


def run_losses(parts: List[str], data: str, workers: int, threads: int) -> None:
    """The parts with an objective (the loss parts, and SWAP on real images) through ``unnas rank`` itself, with
    ``--data``: the architectures not yet recorded on its stdin."""
    for name in parts:
        part = PARTS[name]
        objective = part["objective"]
        rankers = [r for r in part.get("rankers", LOSS_RANKERS) if not (r == "gradsign" and objective == "contrastive")]
        for seed in part["seeds"]:
            path = os.path.join(RECORDS, f"{name}-seed{seed}.jsonl")
            have = done(path)
            todo = [label for label, _ in archs_of(part) if label not in have]
            print(f"{name} seed {seed}: {len(have)} scored, {len(todo)} to go", flush=True)
            if not todo:
                continue
            cmd = [sys.executable, "-m", "unnas", "rank", "-", "--space", part["space"], "--rankers", ",".join(rankers),
                   "--objective", "supervised" if objective == "labels" else objective, "--data", data,
                   "--channels", str(part["shape"]["channels"]), "--layers", str(part["shape"]["layers"]),
                   "--batch", str(part["batch"]), "--seed", str(seed), "--workers", str(workers),
                   "--threads", str(threads), "--json"]
            if objective == "labels":
                cmd[cmd.index("--objective"):cmd.index("--objective") + 2] = []
            with open(path, "a") as out:
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                proc.stdin.write("\n".join(todo) + "\n")
                proc.stdin.close()
                for line in proc.stdout:
                    row = json.loads(line)
                    row["arch"] = row.pop("genotype")
                    row["seed"] = seed
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                if proc.wait() != 0:
                    raise SystemExit(f"{' '.join(cmd)} failed")


def record_provenance(parts: List[str], args: argparse.Namespace) -> None:
    """Append this invocation's machine, versions, workers and threads to ``records/provenance.jsonl``."""
    from unnas.provenance import machine
    from unnas.study.jobs import versions

    with open(os.path.join(RECORDS, "provenance.jsonl"), "a") as f:
        f.write(json.dumps({"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "parts": parts,
                            "workers": args.workers, "threads": args.threads, "machine": machine(),
                            "versions": versions()}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts (default: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    ap.add_argument("--data", default=os.environ.get("CIFAR10_ROOT", "../shared/data/cifar10"),
                    help="CIFAR-10 (ImageFolder or torchvision's layout) for the loss parts")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    os.makedirs(RECORDS, exist_ok=True)
    record_provenance(parts, args)
    run_scores([p for p in parts if "objective" not in PARTS[p]], args.workers, args.threads)
    run_losses([p for p in parts if "objective" in PARTS[p]], args.data, args.workers, args.threads)


if __name__ == "__main__":
    main()
