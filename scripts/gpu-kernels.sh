#!/usr/bin/env bash
# The kernels' GPU checks, in one device call of a few minutes (issue 9): the CUDA twins
# against the CPU twins bit for bit (tests/kernels, the `gpu` test included) and the device
# throughput of the lane decoders (benchmarks/kernels_gpu.py -> $OUT/kernels_gpu.json, to be
# committed as benchmarks/results/kernels_gpu.json).
#
#   here, once:  python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                  --implementation cp --platform manylinux_2_17_x86_64 -d .whl constriction==0.5.0 \
#                  pytest pluggy iniconfig packaging
#   device run, carry [".whl"], timeout_s 600:  bash scripts/gpu-kernels.sh
#
# Environment (optional): SIZES (1e6,1e7,1e8), LANES (4096,65536), PYTHON (python3).
set -euo pipefail
python=${PYTHON:-python3}
out=${OUT:-runs/gpu-out}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
"$python" -m pytest -q -p no:cacheprovider tests/kernels tests/entropy/test_lanes.py 2>&1 | tee "$out/tests.txt"
"$python" benchmarks/kernels_gpu.py --sizes "${SIZES:-1e6,1e7,1e8}" --lanes "${LANES:-4096,65536}" 2>&1 | tee "$out/bench.txt"
