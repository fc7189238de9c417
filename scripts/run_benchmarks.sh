#!/usr/bin/env bash
# Run every benchmark (each measures fastw2v and its peer in one run), then refresh
# the README's tables. Needs the `bench` extra: pip install -e '.[bench,tf]'.
# --quick (or QUICK=1) gives every table on a slice of wiki8 in a few minutes, for checking
# that nothing broke; the full mode is what the README shows.
set -euo pipefail
if [[ "${1:-}" == "--quick" ]]; then QUICK=1; fi
cd "$(dirname "$0")/.."
for b in benchmarks/bench_*.py; do
    echo "=== $b"
    python "$b" ${QUICK:+--quick}
done
echo "=== benchmarks/bench_keras.py --batch-sweep"
python benchmarks/bench_keras.py --batch-sweep ${QUICK:+--quick}
echo "=== benchmarks/bench_keras.py --workers"
python benchmarks/bench_keras.py --workers ${QUICK:+--quick}
python scripts/update_readme.py
