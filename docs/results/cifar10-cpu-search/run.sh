#!/usr/bin/env bash
# Reproduce docs/results/cifar10-cpu-search/ from the repository root (one heavy job at a time; about
# 25 minutes on 2 CPU cores):
#   bash docs/results/cifar10-cpu-search/run.sh [DATA_ROOT]
# 1. a CPU DARTS search (configs/search/cifar10_<objective>_cpu.yaml, 4 epochs instead of 2) per objective;
# 2. each found cell and one random cell trained under configs/train/cifar10_supervised_cpu.yaml, seeds 0 and 1;
# 3. summarize.py collects genotypes, drawings, alpha plots and held-out accuracies into this folder.
set -euo pipefail
ROOT=$(pwd)
DATA=$(realpath "${1:-../shared/data/cifar10}")
OUT=docs/results/cifar10-cpu-search
WORK=${WORK:-/tmp/unnas-cpu-search}   # run folders (checkpoints, logs) stay outside the repository
EPOCHS=4
mkdir -p "$WORK" "$OUT"
export WANDB_MODE=${WANDB_MODE:-disabled}

for task in supervised rotation colorization jigsaw; do
  if [ ! -f "$WORK/search/$task/genotype.json" ]; then
    (cd "$WORK" && unnas fit -c "$ROOT/configs/search/cifar10_${task}_cpu.yaml" --data.source.root="$DATA" \
       --trainer.max_epochs=$EPOCHS --trainer.logger=lightning.pytorch.loggers.CSVLogger \
       --trainer.logger.save_dir=search --trainer.logger.name="$task" --trainer.logger.version=0 \
       --trainer.enable_progress_bar=false --trainer.default_root_dir="search/$task") > "$WORK/search_$task.log" 2>&1
    cp "$WORK/search/$task/version_0/genotype.json" "$WORK/search/$task/genotype.json"
  fi
done

unnas arch sample --n 1 --seed 0 --out "$WORK/random.json"

for arch in supervised rotation colorization jigsaw random; do
  geno="$WORK/search/$arch/genotype.json"
  [ "$arch" = random ] && geno="$WORK/random.json"
  for seed in 0 1; do
    if [ ! -f "$WORK/train/$arch-seed$seed/version_0/result.json" ]; then
      (cd "$WORK" && unnas fit -c "$ROOT/configs/train/cifar10_supervised_cpu.yaml" --data.source.root="$DATA" \
         --model.init_args.genotype="$geno" --seed_everything=$seed --trainer.logger=lightning.pytorch.loggers.CSVLogger \
         --trainer.logger.save_dir=train --trainer.logger.name="$arch-seed$seed" --trainer.logger.version=0 \
         --trainer.enable_progress_bar=false --trainer.default_root_dir="train/$arch-seed$seed") \
         > "$WORK/train_$arch-seed$seed.log" 2>&1
    fi
  done
done

python "$OUT/summarize.py" "$WORK" "$OUT"
