#!/usr/bin/env bash
# Runs quant-bench from a make-quant-bundle.sh bundle on a GPU machine
# through the vendor's OpenCL driver: every model, float32 and every plan.
# usage: run-quant.sh [OPENCL_LIBRARY]   JSON lines on stdout
set -u
D=$(cd "$(dirname "$0")" && pwd)
LIB=${1:-/usr/local/nvidia/lib64/libnvidia-opencl.so.1}
export LD_LIBRARY_PATH=$D/lib
mkdir -p /tmp/physnn-icd
echo "$LIB" > /tmp/physnn-icd/vendor.icd
export OCL_ICD_VENDORS=/tmp/physnn-icd PHYSNN_CACHE_DIR=/tmp/physnn-cache
nvidia-smi -L 2>/dev/null
for M in heat1d_pinn burgers_pinn digits_mlp digits_cnn; do
  ls "$D"/res/$M-*.json >/dev/null 2>&1 || continue
  case $M in
    digits_*) SPEC=$D/res/$M.onnx; N=${ROWS_DIGITS:-65536} ;;
    *) SPEC=builtin:$M; N=${ROWS_PINN:-1048576} ;;
  esac
  ARGS=()
  for P in "$D"/res/$M-*.json; do
    case $P in *front*) continue ;; esac
    ARGS+=(-p "$P")
  done
  "$D/bin/quant-bench" -m "$SPEC" -n "$N" -d opencl -r "${REPEATS:-20}" \
    "${ARGS[@]}"
done
