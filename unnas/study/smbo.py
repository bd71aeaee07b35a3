"""A study run as a search (sequential model-based optimisation, PNAS-style): fit the surrogate of
:mod:`unnas.study.predictor` to a study's finished jobs, add the pool architectures it predicts best, train them,
repeat. Every round is recorded in ``DIR/search_rounds.json`` and a finished round is not run again."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

from unnas.study.store import Store, StudyError

SEARCH_FILE = "search_rounds.json"
PROPOSALS_FOLDER = "proposals"
# The settings a search's rounds were made with; resuming with others would mix two searches in one record.
SEARCH_SETTINGS = ("objective", "pool", "per_round", "kappa", "seed", "ensemble", "steps")


def objective_scores(store: Store, objective: str) -> Dict[str, float]:
    """Arch -> the objective's score as the report reads it: the mean over seeds of each finished job's rank value
    (its ``rank_metric``, else ``best_acc``)."""
    from unnas.study.stats import mean_over_seeds

    return mean_over_seeds([r for r in store.results() if r["task"] == objective]).get(objective, {})


def score_format(store: Store, objective: str) -> str:
    """How to print the objective's scores: a ranker's as they are, an accuracy (a fraction) with 4 digits."""
    from unnas.study.stats import is_ranker_record

    return ".6g" if any(is_ranker_record(r) for r in store.results() if r["task"] == objective) else ".4f"


def _canonical(genotype_json: str) -> str:
    return json.dumps(json.loads(genotype_json), sort_keys=True)


def fit_and_propose(study: Union[Store, str], objective: str, n: int, pool: str, *, kappa: float = 0.0, seed: int = 0,
                    ensemble: int = 5, steps: int = 300, holdout_folds: int = 0) -> Dict[str, Any]:
    """Fit the surrogate to the finished *objective* jobs of *study* (an opened store, or its folder) and pick the *n* architectures
    of the set *pool* with the highest predicted score (``mean + kappa * std``) that the study does not hold (by id
    or by architecture). Returns ``{"n_train", "pool_left", "heldout" (with ``holdout_folds``), "proposals": [{"id",
    "mean", "std", "score", "arch"}]}``; adds nothing."""
    import numpy as np

    from unnas.spaces import space_class
    from unnas.study.predictor import arch_features, fit_surrogate, holdout_rho, propose
    from unnas.study.archs import resolve_arch_set

    store = Store.of(study)
    directory = store.directory
    meta = store.meta()
    if objective not in meta["tasks"]:
        raise StudyError(f"{directory} has no objective {objective!r}; its objectives: {', '.join(meta['tasks'])}")
    space_name = store.space(meta)
    space = space_class(space_name)()
    study_archs = dict(store.archs())
    scores = objective_scores(store, objective)
    if len(scores) < 2:
        raise StudyError(f"{directory} has {'no' if not scores else len(scores)} finished {objective} job"
                         f"{'' if len(scores) == 1 else 's'}; the surrogate needs at least 2 scored architectures: "
                         f"run `unnas study work {directory}` first")
    train = [a for a in study_archs if a in scores]
    X = np.stack([arch_features(space, study_archs[a]) for a in train])
    y = np.array([scores[a] for a in train])
    held = set(study_archs) | {_canonical(g) for g in study_archs.values()}
    candidates, pool_json, seen = [], {}, set()
    for a, g in resolve_arch_set(pool, space_name)[1]:
        key = _canonical(g)
        if a in held or key in held or key in seen:
            continue
        seen.add(key)
        pool_json[a] = g
        candidates.append((a, arch_features(space, g)))
    if not candidates:
        raise StudyError(f"every architecture of the pool {pool} is already in the study; pass a larger --pool")
    surrogate = fit_surrogate(X, y, ensemble=ensemble, seed=seed, steps=steps)
    picked = propose(surrogate, candidates, n, kappa=kappa)
    out: Dict[str, Any] = {"n_train": len(train), "pool_left": len(candidates),
                           "proposals": [{**p, "arch": json.loads(pool_json[p["id"]])} for p in picked]}
    if holdout_folds:
        out["heldout"] = holdout_rho(X, y, folds=holdout_folds, seed=seed, ensemble=ensemble, steps=steps)
    return out


def write_proposals(directory: str, objective: str, proposals: Sequence[Mapping[str, Any]]) -> str:
    """``DIR/proposals/<objective>-<k>.jsonl`` (the next free k): one JSON line per proposal, as `unnas arch sample`
    writes them (``id`` and the space's JSON form), which `study add --archs` reads."""
    folder = os.path.join(directory, PROPOSALS_FOLDER)
    os.makedirs(folder, exist_ok=True)
    k = 1
    while os.path.exists(os.path.join(folder, f"{objective}-{k}.jsonl")):
        k += 1
    path = os.path.join(folder, f"{objective}-{k}.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for p in proposals:
            f.write(json.dumps({"id": p["id"], **p["arch"]}) + "\n")
    return path


def read_search(path: str) -> Optional[Dict[str, Any]]:
    """The search record at *path* (None when there is none); one-line :class:`StudyError` when it is unreadable."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as e:
        raise StudyError(f"cannot read {path} ({e}); restore it, or delete it to start the search over") from None
    if not isinstance(record, dict) or not isinstance(record.get("rounds"), list):
        raise StudyError(f"{path} is not a search record (no 'rounds' list); restore it, or delete it to start over")
    return record


def write_search(path: str, record: Mapping[str, Any]) -> None:
    """Write the search record atomically (a run killed while writing leaves the previous record)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def run_search(study: Union[Store, str], settings: Mapping[str, Any], rounds: int, *, holdout_folds: int, lease_s: float,
               threads: int, log: Callable[[str], None],
               on_proposals: Callable[[int, Mapping[str, Any], str], None]) -> int:
    """Run *rounds* rounds of the search over *study* (an opened store, or its folder) with *settings* (the keys of :data:`SEARCH_SETTINGS`): each round trains
    what the study still holds, proposes ``per_round`` architectures (``on_proposals(round, found, score format)``
    shows them), adds and trains them, and records the round in ``DIR/search_rounds.json``; a finished round is
    skipped and a half-done one finished. Returns the number of failed jobs. :class:`StudyError` when the record
    holds a search with other settings."""
    import numpy as np

    from unnas.study.create import add_to_study
    from unnas.study.worker import work

    store = Store.of(study)
    directory = store.directory
    path = os.path.join(directory, SEARCH_FILE)
    settings = {k: settings[k] for k in SEARCH_SETTINGS}
    record = read_search(path) or {**settings, "rounds": []}
    recorded = {k: record.get(k) for k in SEARCH_SETTINGS}
    if recorded != settings:
        differ = ", ".join(f"{k} {recorded[k]!r} (given {settings[k]!r})" for k in SEARCH_SETTINGS
                           if recorded[k] != settings[k])
        raise StudyError(f"{path} records a search with other settings: {differ}; continue it with its settings, or "
                         f"move the file away to start another search")
    objective = settings["objective"]
    fmt = None
    failed = 0
    for r in range(1, rounds + 1):
        done_rounds = record["rounds"]
        current = done_rounds[r - 1] if len(done_rounds) >= r else None
        if current is not None and current.get("status") == "done":
            continue
        if current is None:
            work(store, lease_s=lease_s, log=log, threads=threads)  # what the study still holds first
            found = fit_and_propose(store, objective, settings["per_round"], settings["pool"],
                                    kappa=settings["kappa"], seed=settings["seed"], ensemble=settings["ensemble"],
                                    steps=settings["steps"], holdout_folds=holdout_folds)
            fmt = fmt or score_format(store, objective)
            log(f"round {r}/{rounds}:")
            on_proposals(r, found, fmt)
            current = {"round": r, "status": "proposed", "n_train": found["n_train"],
                       "pool_left": found["pool_left"], "heldout": found["heldout"],
                       "proposals": [{k: p[k] for k in ("id", "mean", "std", "score")} for p in found["proposals"]],
                       "file": os.path.relpath(write_proposals(directory, objective, found["proposals"]), directory)}
            done_rounds.append(current)
            write_search(path, record)
        added = add_to_study(store, archs=os.path.join(directory, current["file"]))  # none again on resuming
        current["jobs_added"] = current.get("jobs_added", 0) + added
        summary = work(store, lease_s=lease_s, log=log, threads=threads)
        failed += summary.failed
        scores = objective_scores(store, objective)
        measured = {p["id"]: scores.get(p["id"]) for p in current["proposals"]}
        done = [v for v in measured.values() if v is not None]
        best = max(scores.items(), key=lambda kv: kv[1]) if scores else (None, None)
        current.update(status="done", measured=measured, failed=summary.failed,
                       measured_mean=float(np.mean(done)) if done else None,
                       best={"id": best[0], "score": best[1]})
        write_search(path, record)
        fmt = fmt or score_format(store, objective)
        mean = f"{current['measured_mean']:{fmt}}" if done else "none measured"
        log(f"round {r}/{rounds} done: proposals' {objective} mean {mean}; best so far {best[0]} {best[1]:{fmt}}")
    return failed
