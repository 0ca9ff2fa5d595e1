#!/usr/bin/env bash
# The GPU figures of bench/README.md in one run, sized for a 15-minute GPU lease (about 8
# minutes of commands). On the GPU machine, from the repository root, with the wheels of
# bench/gpu_wheels.sh in ./.whl:
#   bash bench/gpu_figures.sh            # writes the log to $OUT (or /tmp/gpu_figures)
# QUICK=1 runs each step at the example's size on whatever device there is (a CPU smoke test).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu_figures}
mkdir -p "$out"
log="$out/gpu_figures.log"
python=${PYTHON:-python3}
if [ -d .whl ] && ! "$python" -c "import zarr, pydantic, funlib.geometry" 2>/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/workflow${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
cores=$(nproc)
workers=$((cores > 1 ? cores - 1 : 1))

step() {  # step SECONDS TITLE COMMAND...: run with a time limit, log it, go on after a failure
    local limit=$1 title=$2
    shift 2
    echo "=== $title ($(date -u +%H:%M:%S), limit ${limit}s): $*" | tee -a "$log"
    timeout "$limit" "$@" 2>&1 | grep -v -E "it/s\]|s/it\]" | tee -a "$log"
    echo "=== exit ${PIPESTATUS[0]}" | tee -a "$log"
}

{ nvidia-smi -L 2>&1 || true; } | tee -a "$log"
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else '')" | tee -a "$log"
if [ "${QUICK:-0}" = 1 ]; then
    preset=example steps=3 loader=(--skip-large --batches 4) iters=(--iterations 8 --rounds 2)
else
    preset=dacapo steps=10 loader=(--batches 8 --large-batches 8) iters=()
fi
step 120 "model step, float32" "$python" bench/model_throughput.py --preset "$preset" \
    --steps "$steps" --cudnn-benchmark
step 120 "model step, bfloat16 + channels_last" "$python" bench/model_throughput.py \
    --preset "$preset" --steps "$steps" --cudnn-benchmark --precision bfloat16 --channels-last
step 150 "loader, batches/s per worker" "$python" bench/loader_throughput.py \
    --workers 1 4 "$workers" "${loader[@]}"
step 120 "training loop vs pure torch ($workers workers)" "$python" bench/train_throughput.py \
    --workers "$workers" "${iters[@]}"
step 90 "chunked == uninterrupted, deterministic" "$python" bench/resume_equality.py \
    --steps 10 --deterministic
echo "log: $log"
