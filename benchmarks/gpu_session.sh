#!/usr/bin/env bash
# Everything a short GPU session measures, in one command, each part under its own time limit.
#
# Here, before the session (fills ./.whl with the wheels a stock CUDA PyTorch image lacks):
#     bash benchmarks/gpu_session.sh fetch
# On the GPU machine, from the repository root, with .whl carried along:
#     bash benchmarks/gpu_session.sh run "$OUT"
#
# `run` installs the wheels into /tmp/site (if .whl is there), records the device, then runs, each part
# under `timeout` so that one slow part leaves the others their time:
#   bench_loop.py      the loop at 512x1024 and every scorer in its context, profiling training and the
#                      costly scorers after timing them, then tools/select.py --pool --export labelstudio
#                      on its last checkpoint                       -> loop_cuda.json, profiles/, select/, loop.log
#   bench_scorers.py   segmentation at 1024x2048 (pool 64)          -> scorers_segmentation.json
#                      region passes at 1024x2048                   -> scorers_regions.json
#                      classification and the joint selections      -> scorers_classification_joint.json
#   gpu_targets.py     each target, met or missed                    -> targets.md
# Environment: PYTHON (default python3), SEGAL_BENCH_DEVICE (default cuda), SEGAL_BENCH_QUICK=1 (tiny sizes,
# to try the script on a CPU), SEGAL_BENCH_BUDGET (seconds for all parts, default 420, shared 45/30/15/10).
set -uo pipefail

EXTRA_WHEELS=(scikit-image==0.26.0 lazy_loader==0.6 imageio==2.38.1 tifffile==2026.3.3 networkx==3.6.1)
PYTHON=${PYTHON:-python3}

fetch() {
    bash ../shared/tools/gpu_wheels.sh || exit 1
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${EXTRA_WHEELS[@]}" || exit 1
    ls .whl | wc -l | xargs echo "wheels in .whl:"
}

part() {  # part NAME SECONDS COMMAND...: runs COMMAND under a time limit, its output in $out/NAME.log
    local name=$1 seconds=$2
    shift 2
    echo "== $name (at most ${seconds}s): $*"
    local started=$SECONDS
    timeout --signal=INT --kill-after=15 "$seconds" "$@" >"$out/$name.log" 2>&1
    local status=$?
    echo "   exit $status after $((SECONDS - started))s$([ $status -eq 124 ] && echo ', stopped at its time limit')"
    tail -n 25 "$out/$name.log"
}

run() {
    out=${1:?usage: gpu_session.sh run OUT_DIR}
    mkdir -p "$out/profiles"
    if [ -d .whl ] && compgen -G ".whl/*.whl" >/dev/null; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
            || exit 1
        export PYTHONPATH=/tmp/site:$PWD
    fi
    local device=${SEGAL_BENCH_DEVICE:-cuda} budget=${SEGAL_BENCH_BUDGET:-420} quick=()
    [ "${SEGAL_BENCH_QUICK:-0}" = 1 ] && quick=(--quick)
    "$PYTHON" -c "import torch, segal, skimage; assert '$device' != 'cuda' or torch.cuda.is_available(), 'no CUDA'; \
print(torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')" \
        | tee "$out/device.txt" || exit 1
    command -v nvidia-smi >/dev/null && nvidia-smi >>"$out/device.txt" 2>&1
    part loop $((budget * 45 / 100)) "$PYTHON" benchmarks/bench_loop.py --device "$device" "${quick[@]}" \
        --data-root /tmp/segal_bench_data --out "$out/loop_$device.json" --profile-dir "$out/profiles" \
        --profile train HoldoutLossChangeApprox HoldoutLossChange "MCDropout T=20" "BALD T=20" \
        --select 8 --select-dir "$out/select"
    part scorers_segmentation $((budget * 30 / 100)) "$PYTHON" benchmarks/bench_scorers.py --device "$device" \
        "${quick[@]}" --cases segmentation --out "$out/scorers_segmentation.json"
    part scorers_regions $((budget * 15 / 100)) "$PYTHON" benchmarks/bench_scorers.py --device "$device" \
        "${quick[@]}" --cases regions --out "$out/scorers_regions.json"
    part scorers_classification_joint $((budget * 10 / 100)) "$PYTHON" benchmarks/bench_scorers.py \
        --device "$device" "${quick[@]}" --cases classification joint --out "$out/scorers_classification_joint.json"
    local results=()
    for name in segmentation regions classification_joint; do
        [ -f "$out/scorers_$name.json" ] && results+=("$out/scorers_$name.json")
    done
    local loop=()
    [ -f "$out/loop_$device.json" ] && loop=(--loop "$out/loop_$device.json")
    if [ ${#loop[@]} -gt 0 ] || [ ${#results[@]} -gt 0 ]; then
        "$PYTHON" benchmarks/gpu_targets.py "${loop[@]}" ${results[@]:+--scorers "${results[@]}"} --out "$out/targets.md"
    else
        echo "no benchmark finished: see the logs in $out"
        exit 1
    fi
}

case ${1:-} in
    fetch) fetch ;;
    run) run "${2:-}" ;;
    *) echo "usage: bash benchmarks/gpu_session.sh fetch | run OUT_DIR" >&2; exit 2 ;;
esac
