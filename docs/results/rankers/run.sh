#!/usr/bin/env bash
# The training-free rankers' reference results (docs/results/rankers/README.md). Run from the repository root:
#   bash docs/results/rankers/run.sh [CIFAR10_ROOT]
# Every part resumes (a finished job is kept); a worker is restarted every 200 jobs, which bounds what any leak in
# a ranker could cost (a worker's resident set stays near 1.2 GB on the C=16, N=5 networks). One worker at a time,
# 2 torch threads.
set -euo pipefail
DATA=${1:-../shared/data/cifar10}
OUT=docs/results/rankers
TASKS=synflow,naswot,jacov,grad_norm,snip,grasp,fisher,params,macs
work() {  # work DIR [THREADS]: run the study's jobs to the end with THREADS torch threads (default 2)
  local t=${2:-2}
  unnas study work "$1" --threads "$t" --lease 300 --max-jobs 200 --retry-failed >> "$(dirname "$1")/work.log" 2>&1
  for _ in $(seq 1 100); do
    unnas study work "$1" --threads "$t" --lease 300 --max-jobs 200 >> "$(dirname "$1")/work.log" 2>&1
    if unnas study status "$1" 2>/dev/null | grep -q ", 0 left\]"; then break; fi
  done
}
report() {  # report DIR TITLE [--gt-dataset D]: the study's report into DIR/../report
  unnas study report "$1" --out "$(dirname "$1")/report" --title "$2" "${@:3}" > /dev/null
}
copy_of() {  # copy_of SRC DST: a trained study's job store (the ranker tasks are added to the copy)
  if [ ! -f "$2/study.sqlite" ]; then
    mkdir -p "$2" && cp -r "$1/study.sqlite" "$1/configs" "$2/"
    if [ -d "$1/runs" ]; then ln -s "$(realpath --relative-to="$2" "$1/runs")" "$2/runs"; fi
  fi
}
# 1. every ranker on the 491 NAS-Bench-201 table cells, at NASLib's setting, on real CIFAR-10 images
D=$OUT/nb201-cifar10/study
[ -f $D/study.sqlite ] || unnas study init $D --config configs/study/nb201_rankers_cifar10.yaml --archs nb201-table \
  --tasks $TASKS --data-root "$DATA"
work $D
report $D "Training-free rankers on the 491 NAS-Bench-201 table cells (CIFAR-10)"
# 1b. the seed noise of the two rankers whose score is furthest from the table's (grasp) or least stable (jacov):
# 80 table cells, seeds 1-3 (the report's noise section: each ranker's seed-to-seed rho)
D=$OUT/nb201-cifar10-seeds/study
[ -f $D/study.sqlite ] || unnas study init $D --config configs/study/nb201_rankers_cifar10.yaml --archs nb201-table:80 \
  --tasks grasp,jacov --seeds 1,2,3 --data-root "$DATA"
work $D
report $D "grasp and jacov with three seeds on 80 NAS-Bench-201 table cells (CIFAR-10)"
# 2. every ranker beside the trained objectives of the DARTS-space CPU study (24 of the paper's 500 architectures)
D=$OUT/darts-cifar10-cpu-study/study
copy_of docs/results/cifar10-cpu-study/study $D
unnas study add $D --tasks $TASKS --config configs/study/darts_rankers_cifar10.yaml > /dev/null
work $D
report $D "Training-free rankers beside the DARTS-space CPU study (24 of the paper's 500 architectures)"
# 3. the CIFAR-100 and ImageNet16-120 networks: the data-free rankers, and every ranker where the data set's root is
# given (CIFAR100_ROOT, IMAGENET16_ROOT: an ImageFolder copy or torchvision's layout, as the configs say)
for ds in cifar100 imagenet16; do
  D=$OUT/nb201-$ds/study
  root_var=$(echo "${ds}_ROOT" | tr a-z A-Z); root=${!root_var:-}
  [ -f $D/study.sqlite ] || unnas study init $D --config configs/study/nb201_rankers_$ds.yaml --archs nb201-table \
    --tasks synflow,params,macs
  if [ -n "$root" ]; then
    unnas study add $D --tasks naswot,jacov,grad_norm,snip,grasp,fisher > /dev/null
    sed -i "s|^\( *root:\).*|\1 $root|" $D/configs/*.yaml   # the frozen configs' data root
  fi
  work $D
  gt=$ds; [ $ds = imagenet16 ] && gt=imagenet16-120
  what="Data-free rankers"; [ -n "$root" ] && what="Training-free rankers"
  report $D "$what on the 491 NAS-Bench-201 table cells ($ds networks)" --gt-dataset $gt
done
# 4. every ranker beside the trained objectives of the NAS-Bench-201 CPU study (60 table cells, seeds 1 and 2), in
# two settings: (a) at NASLib's table setting, C=16, N=5 (configs/study/nb201_rankers_cifar10.yaml), not the trained
# shape, 2 torch threads; (b) at the trained shape, C=8, N=1 (nb201_rankers_cifar10_c8.yaml beside this script), one
# torch thread, as it was run (nice -n 10 env OMP_NUM_THREADS=1 unnas study work DIR --workers 1 --threads 1)
D=$OUT/nb201-cpu-study/study
copy_of docs/results/nb201-cpu-study/study $D
unnas study add $D --tasks $TASKS --config configs/study/nb201_rankers_cifar10.yaml > /dev/null
work $D
report $D "Training-free rankers beside the NAS-Bench-201 CPU study (60 table cells)"
D=$OUT/nb201-cpu-study-c8/study
copy_of docs/results/nb201-cpu-study/study $D
unnas study add $D --tasks $TASKS --config $OUT/nb201_rankers_cifar10_c8.yaml > /dev/null
OMP_NUM_THREADS=1 work $D 1
report $D "Training-free rankers at the trained shape (C=8, N=1) beside the NAS-Bench-201 CPU study (60 table cells)"
python docs/results/rankers/summarize.py
echo "all ranker studies done"
