#!/usr/bin/env bash
# Every search strategy on NAS-Bench-201 at CPU scale, with each objective and seed, on the CIFAR-10 subset of the
# configs, then the summary (summarize.py). Every run is configs/search/nb201_cifar10_cpu.yaml (DARTS first order)
# composed with its strategy's overlay (configs/search/strategies/): darts (none), gdas, pcdarts, rsws, ddpnas,
# tndnas (tndnas_nb201_cpu.yaml); and smbo, the study run as a search (unnas study search, docs/study.md): SMBO_INIT
# table cells drawn at random with the seed, then SMBO_ROUNDS rounds of SMBO_PER_ROUND cells proposed by the surrogate
# from the 491 NAS-Bench-201 table cells, every cell trained with the objective's recipe of
# configs/study/nb201_cifar10_cpu.yaml (C=8, N=1, 4 epochs over 800 images); its found cell is the one the
# objective scores best.
# Objectives: supervised (the configs' own), rotation, jigsaw, random_labels (pretext_tasks.RandomLabels, 10 classes).
# Run from the repository root:
#   bash docs/results/nb201-strategies/run.sh [CIFAR10_ROOT]
# Environment (defaults in brackets): SEEDS ["1 2 3 4 5"], STRATEGIES ["darts gdas pcdarts rsws ddpnas tndnas smbo"],
# OBJECTIVES ["supervised rotation jigsaw random_labels"], THREADS [2] (torch threads of a run: --threads and
# OMP_NUM_THREADS), OUT [docs/results/nb201-strategies] (runs go to $OUT/searches, the summary to $OUT),
# LOGS [/tmp/unnas-nb201-strategies-logs] (console output of every run), SMBO_INIT [6], SMBO_ROUNDS [2],
# SMBO_PER_ROUND [3] (12 trained cells per smbo run), e.g.
#   SEEDS=1 STRATEGIES=ddpnas OBJECTIVES=supervised OUT=/tmp/nb201-strategies bash docs/results/nb201-strategies/run.sh
# A strategy without its config is skipped with a line. A finished run (genotype.json and cpu_seconds.json exist) is
# skipped, so the script resumes where it stopped. Several run.sh at once share the list: each run is claimed by one
# of them (flock on <run>.lock, released by the kernel when the run's processes end, however they end), so
#   THREADS=1 bash docs/results/nb201-strategies/run.sh DATA & THREADS=1 bash docs/results/nb201-strategies/run.sh DATA
# runs two searches at a time. Every run's wall, user and system seconds (bash's `time`, the run and its children)
# are written to cpu_seconds.json in its folder.
set -euo pipefail
ROOT_DATA=${1:-data/cifar10}
SEEDS=${SEEDS:-"1 2 3 4 5"}
STRATEGIES=${STRATEGIES:-"darts gdas pcdarts rsws ddpnas tndnas smbo"}
OBJECTIVES=${OBJECTIVES:-"supervised rotation jigsaw random_labels"}
THREADS=${THREADS:-2}
OUT=${OUT:-docs/results/nb201-strategies}
LOGS=${LOGS:-/tmp/unnas-nb201-strategies-logs}
SMBO_INIT=${SMBO_INIT:-6}
SMBO_ROUNDS=${SMBO_ROUNDS:-2}
SMBO_PER_ROUND=${SMBO_PER_ROUND:-3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
declare -A TASK=([supervised]="pretext_tasks.Supervised" [rotation]="pretext_tasks.Rotation"
                 [jigsaw]="pretext_tasks.Jigsaw" [random_labels]="pretext_tasks.RandomLabels")
for objective in $OBJECTIVES; do
  if [ -z "${TASK[$objective]+x}" ]; then
    echo "run.sh: error: unknown objective '$objective' in OBJECTIVES; use some of: ${!TASK[*]}" >&2
    exit 2
  fi
done
BASE=configs/search/nb201_cifar10_cpu.yaml
config_of() {  # the strategy overlay of a strategy (DARTS first order: the base config itself)
  case "$1" in
    darts) echo "$BASE" ;;
    tndnas) echo configs/search/strategies/tndnas_nb201_cpu.yaml ;;
    smbo) echo configs/study/nb201_cifar10_cpu.yaml ;;
    *) echo "configs/search/strategies/$1.yaml" ;;
  esac
}
supernet_search() {  # run folder, objective, seed, config: the search config with the strategy's overlay
  local name extra=()  # the configs' objective is supervised (10 classes)
  name=$(basename "$1")
  if [ "$2" != supervised ]; then extra=(--model.init_args.task="${TASK[$2]}"); fi
  OMP_NUM_THREADS="$THREADS" unnas fit -c "$BASE" -c "$4" --threads="$THREADS" \
    --seed_everything="$3" --data.source.init_args.root="$ROOT_DATA" "${extra[@]}" \
    --trainer.logger='[{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "'"$OUT/searches"'", "name": "'"$name"'"}}]' \
    --trainer.callbacks='[]' --trainer.enable_checkpointing=false --trainer.enable_progress_bar=false
}
smbo_search() {  # run folder, objective, seed, study config: the objective's study run as a search -> genotype.json
  local study="$1/version_0/study"
  OMP_NUM_THREADS="$THREADS" unnas study init "$study" --archs "nb201-table:$SMBO_INIT:$3" --tasks "$2" --seeds "$3" \
    --config "$4" --data-root "$ROOT_DATA" &&
  OMP_NUM_THREADS="$THREADS" unnas study search "$study" --objective "$2" --pool nb201-table --rounds "$SMBO_ROUNDS" \
    --per-round "$SMBO_PER_ROUND" --seed "$3" --threads "$THREADS" &&
  python - "$study" > "$1/version_0/genotype.json" <<'PY'
import json, sys
from unnas.study.store import Store
best = json.load(open(f"{sys.argv[1]}/search_rounds.json"))["rounds"][-1]["best"]["id"]
print(json.dumps({**json.loads(dict(Store.open(sys.argv[1]).archs())[best]), "id": best}, indent=1))
PY
}
command -v flock > /dev/null || { echo "run.sh: error: needs flock (util-linux) to share the runs" >&2; exit 2; }
HELD=""  # the run this process holds
claim() {  # run folder: true when this process now holds the run's lock. flock on an open descriptor: the kernel
  # releases it when every process holding it ends (the run's own processes inherit it), so no lock outlives a run
  exec {LOCK_FD}>> "$1.lock"
  if flock -n "$LOCK_FD"; then HELD="$1"; return 0; fi
  exec {LOCK_FD}>&-
  return 1
}
# The lock file goes once the run is finished (whoever opens it after that finds the run finished and skips it); a
# run stopped part-way leaves its lock file, unlocked, until a later run.sh finishes the run.
release() { rm -f "$HELD.lock"; exec {LOCK_FD}>&-; HELD=""; }
finished() { [ -f "$1/version_0/genotype.json" ] && [ -f "$1/version_0/cpu_seconds.json" ]; }
mkdir -p "$LOGS" "$OUT/searches"
TIMEFORMAT='%R %U %S'
for strategy in $STRATEGIES; do
  config=$(config_of "$strategy")
  if [ ! -f "$config" ]; then echo "skip: $strategy ($config does not exist)"; fi
done
# seeds outermost: a partial run covers every strategy and objective once before it repeats any
for seed in $SEEDS; do
  for strategy in $STRATEGIES; do
    config=$(config_of "$strategy")
    if [ ! -f "$config" ]; then continue; fi
    for objective in $OBJECTIVES; do
      name="${strategy}_${objective}_seed${seed}"
      run="$OUT/searches/$name"
      if finished "$run" || ! claim "$run"; then continue; fi
      if finished "$run"; then release; continue; fi  # another process finished it meanwhile
      rm -rf "$run"
      search=supernet_search
      if [ "$strategy" = smbo ]; then search=smbo_search; fi
      if ! { time "$search" "$run" "$objective" "$seed" "$config" > "$LOGS/$name.log" 2>&1; } \
          2> "$LOGS/$name.time"; then
        echo "run $name failed; see $LOGS/$name.log"
        exit 1
      fi
      read -r wall user sys < "$LOGS/$name.time"
      printf '{"wall_s": %s, "user_s": %s, "sys_s": %s, "cpu_s": %s, "threads": %s}\n' "$wall" "$user" "$sys" \
        "$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.3f", u + s}')" "$THREADS" > "$run/version_0/cpu_seconds.json"
      # keep what the summary and a reader need: alphas.json (every epoch's alphas, cell, true accuracy and the
      # strategy's state), metrics.csv, genotype.json, front.json, the config and the plots of the whole run
      rm -rf "$run/version_0/alphas" "$run/version_0/cells" "$run/version_0/genotypes" "$run/version_0/hparams.yaml"
      release
      echo "done: $name (${wall}s wall, $user user + $sys sys)"
    done
  done
done
python "$HERE/summarize.py" "$OUT"
