#!/usr/bin/env bash
# Train a learned model on the lent GPU machine in chained calls of under 9 minutes (see
# docs/training.md).  Each call resumes from the state the previous call left on the device's
# disk or, on a fresh machine, starts from weights (the codec's shipped default); it trains for
# $MINUTES, checkpoints, and exports the weights and a MANIFEST entry into $OUT (what comes back).
#
#   device run, carry [".whl", "data/pack"]:  bash scripts/gpu-train.sh hyperprior 120000
#
# Environment (all optional): DATA (data/pack, written by `codec pack-data`), STATE
# (/tmp/omnicodec-train/MODEL, the full resumable state), OUT (set by the device tool; else
# runs/gpu-out), MINUTES (8), DEVICE (auto), PYTHON (python3), INIT (weights or checkpoint for a
# fresh state; "none" for a new model), TRAIN_ARGS (more `codec train` flags: --lr, --batch ...).
set -euo pipefail
model=${1:?usage: gpu-train.sh MODEL STEPS}
steps=${2:?usage: gpu-train.sh MODEL STEPS}
python=${PYTHON:-python3}
data=${DATA:-data/pack}
state=${STATE:-/tmp/omnicodec-train/$model}
out=${OUT:-runs/gpu-out}
mkdir -p "$state" "$out"

# compressai and pytorch-msssim travel as cp312 wheels to a python that lacks them
if compgen -G ".whl/*.whl" >/dev/null && ! "$python" -c "import compressai" 2>/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}

if [ -f "$state/last.pt" ]; then
  start=(--resume "$state/last.pt")
  echo "resuming from $state/last.pt"
else
  init=${INIT:-$("$python" -c "from omnicodec.registry import get_codec_class as g; print('omnicodec/weights/' + g('$model').weights_file)")}
  start=()
  [ "$init" = none ] || start=(--init "$init")
  echo "starting from ${init}"
fi
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of flags
"$python" -m omnicodec train "$model" --data "$data" --steps "$steps" --out "$state" \
  --minutes "${MINUTES:-8}" --device "${DEVICE:-auto}" "${start[@]}" ${TRAIN_ARGS:-} --export "$out" \
  2>&1 | tee -a "$out/train.log"
