#!/usr/bin/env bash
# Rebuild every file in benchmarks/results/ from this tree, then refresh the tables of both
# READMEs. Each line below is the one command behind its results; tests/test_readme.py checks
# that every results JSON records one of them. The GPU run is not here: it needs a GPU
# (bash scripts/gpu_bench.sh, benchmarks/README.md's "Keras on a GPU").
# Needs pip install -e '.[bench,tf,jax,plot]', ../shared/data/{wiki8,wiki70m}.txt.xz (with
# eval/) and ../shared/peers/word2vec; about 2.5 hours on 2 cores, the frontier 70 minutes of them.
# --quick (or QUICK=1): every script on a slice, written to benchmarks/results/quick/ (ignored
# by git), with no README change: a check that nothing broke, not figures to read.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
if [[ "${1:-}" == "--quick" || -n "${QUICK:-}" ]]; then
    quick=(--quick)
    export FASTW2V_RESULTS="$PWD/benchmarks/results/quick"
fi
run() { echo "=== python $* ${quick[*]+${quick[*]}}"; python "$@" ${quick[@]+"${quick[@]}"}; }
run benchmarks/bench_pairs.py                           # pairs.*
run benchmarks/bench_train.py                           # train.*
run benchmarks/bench_keras.py                           # keras.*
run benchmarks/bench_keras.py --profile --end-to-end 2  # keras_profile.*
run benchmarks/bench_scale.py                           # prep.*, scale.*
run benchmarks/bench_frontier.py                        # frontier.* (the longest, last)
if [[ ${#quick[@]} -eq 0 ]]; then
    bash scripts/example_map.sh                         # example_map.png
    python scripts/update_readme.py
fi
