#!/usr/bin/env bash
# Label-free search by ranking on NAS-Bench-201 (docs/results/rankers/frontier/README.md). From the repository root:
#   bash docs/results/rankers/frontier/search/run.sh [CIFAR10_ROOT]
# 1. label_free ranks the 491 table cells (seed 0; unnas rank's default shape, C=16, N=5; resumes into ranked.jsonl);
# 2. a study of its 10 best cells trains them with jigsaw and with random labels (the NAS-Bench-201 CPU recipe,
#    seeds 1-3), one worker with 2 torch threads; 3. its report; 4. search.py: the pick of each seed.
set -euo pipefail
DATA=${1:-../shared/data/cifar10}
D=docs/results/rankers/frontier/search
unnas rank nb201-table --space nb201 --rankers label_free --json --seed 0 --workers 2 --threads 1 --out $D/ranked.jsonl
[ -f $D/study/study.sqlite ] || unnas study init $D/study --archs $D/ranked.jsonl --top 10 --by label_free \
  --objectives jigsaw,random_labels --seeds 1,2,3 --data-root "$DATA"
unnas study work $D/study --workers 1 --threads 2 >> $D/work.log 2>&1
unnas study report $D/study --out $D/report --title "label_free's 10 best NAS-Bench-201 table cells, trained" > /dev/null
python $D/search.py
