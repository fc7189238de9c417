#!/usr/bin/env bash
# The README's example map: Hogwild vectors from wiki8 (2 epochs), mapped with t-SNE.
# Needs the plot extra (pip install -e '.[plot]') and ../shared/data/wiki8.txt.xz, or a
# corpus given as the first argument (text8 works too).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-../shared/data/wiki8.txt.xz}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m fastw2v.train --corpus "$corpus" --backend hogwild --epochs 2 --threads 2 --quiet --validate "" \
    --output "$work/vectors.bin"
python -m fastw2v.plot "$work/vectors.bin" --words king,france,eight,computer,music,water --neighbours 7 \
    --method tsne --seed 1 --output benchmarks/results/example_map.png
