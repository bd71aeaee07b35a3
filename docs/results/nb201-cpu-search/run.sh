#!/usr/bin/env bash
# First-order DARTS on NAS-Bench-201 at CPU scale (configs/search/nb201_cifar10_cpu.yaml) with each objective and
# seeds 1-3 on the CIFAR-10 subset, then the summary (summarize.py). Run from the repository root:
#   bash docs/results/nb201-cpu-search/run.sh [CIFAR10_ROOT]
# A finished run (its genotype.json exists) is skipped, so the script resumes where it stopped.
set -euo pipefail
ROOT_DATA=${1:-../shared/data/cifar10}
OUT=docs/results/nb201-cpu-search
LOGS=/tmp/unnas-nb201-search-logs  # console output of each run
mkdir -p "$LOGS"
declare -A TASK=([supervised]="pretext_tasks.Supervised" [rotation]="pretext_tasks.Rotation"
                 [colorization]="pretext_tasks.Colorization" [jigsaw]="pretext_tasks.Jigsaw")
for task in supervised rotation colorization jigsaw; do
  for seed in 1 2 3; do
    run="$OUT/searches/${task}_seed${seed}"
    if [ -f "$run/version_0/genotype.json" ]; then continue; fi
    mkdir -p "$OUT/searches"
    rm -rf "$run"
    extra=()  # the config's objective is supervised (10 classes)
    if [ "$task" != supervised ]; then extra=(--model.init_args.task="${TASK[$task]}"); fi
    OMP_NUM_THREADS=2 unnas fit -c configs/search/nb201_cifar10_cpu.yaml --seed_everything="$seed" \
      --data.source.init_args.root="$ROOT_DATA" "${extra[@]}" \
      --trainer.logger='[{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "'"$OUT/searches"'", "name": "'"${task}_seed${seed}"'"}}]' \
      --trainer.callbacks='[]' --trainer.enable_checkpointing=false --trainer.enable_progress_bar=false \
      > "$LOGS/${task}_seed${seed}.log" 2>&1 || { echo "run $task seed $seed failed; see $LOGS/${task}_seed${seed}.log"; exit 1; }
    # keep what the summary and a reader need: alphas.json (every epoch's alphas, cell and true accuracy),
    # metrics.csv, genotype.json, the config and the two plots; the per-epoch PNGs are left out of the repository
    rm -rf "$run/version_0/alphas" "$run/version_0/cells" "$run/version_0/genotypes" "$run/version_0/hparams.yaml"
    echo "done: $task seed $seed"
  done
done
python docs/results/nb201-cpu-search/summarize.py
