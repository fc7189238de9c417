#!/usr/bin/env bash
# Prepare a run of benchmarks/bench_gpu.py on a GPU machine that cannot reach the network (this
# project's lent device): download the wheels its image lacks (keras, namex, optree, for CPython
# 3.12 on x86-64 Linux) into .whl/, and copy wiki8 and the evaluation sets into .gpu/data/. Both
# folders are ignored by git; carry them to the machine, then run `bash scripts/gpu_bench.sh` there.
#
#     bash scripts/gpu_wheels.sh [SHARED_DATA_DIR]      # default ../shared/data
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data}
# the versions this project's tests ran with; keras needs namex and optree beyond what the image has
wheels=("keras==3.15.1" "namex==0.1.0" "optree==0.20.0")
mkdir -p .whl .gpu/data/eval
rm -f .whl/*.whl
for w in "${wheels[@]}"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$w"
done
cp "$data/wiki8.txt.xz" .gpu/data/
cp "$data/eval/questions-words.txt" "$data/eval/wordsim353.tsv" .gpu/data/eval/
ls -l .whl .gpu/data .gpu/data/eval
du -sh .whl .gpu | sed 's/^/carry: /'
