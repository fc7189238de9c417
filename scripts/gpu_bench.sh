#!/usr/bin/env bash
# On the GPU machine, from the repository root: install the wheels carried in .whl/ (see
# scripts/gpu_wheels.sh), then run benchmarks/bench_gpu.py on the JAX backend with the carried
# wiki8. Results go to benchmarks/results/gpu.* and to $OUT (the device's return folder) if set.
#
#     bash scripts/gpu_bench.sh [bench_gpu.py flags, e.g. --quick]
set -euo pipefail
cd "$(dirname "$0")/.."
site=/tmp/fastw2v-site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
export PYTHONPATH="$site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export NUMBA_CACHE_DIR=/tmp/fastw2v-numba FASTW2V_CACHE=/tmp/fastw2v-cache FASTW2V_EVAL_DIR="$PWD/.gpu/data/eval"
out=${OUT:-/tmp/fastw2v-gpu}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/nvidia-smi.txt" 2>&1 || true
python3 -c "import jax, keras, numba, numpy; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__, \
'numba', numba.__version__, 'numpy', numpy.__version__)"
python3 benchmarks/bench_gpu.py --corpus .gpu/data/wiki8.txt.xz --out "$out" "$@" 2>&1 | tee "$out/gpu_log.txt"
