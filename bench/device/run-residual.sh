#!/usr/bin/env bash
# Runs the residual benchmark from a bundle made by make-residual-bundle.sh
# on a GPU machine: residualexplain's per-frame work on a 256x256 grid and
# the residual's throughput through the vendor's OpenCL driver, and PyTorch
# autograd on the same GPU, model and points.
# usage: run-residual.sh [OPENCL_LIBRARY]   JSON lines on stdout
set -u
D=$(cd "$(dirname "$0")" && pwd)
LIB=${1:-/usr/local/nvidia/lib64/libnvidia-opencl.so.1}
export LD_LIBRARY_PATH=$D/lib
mkdir -p /tmp/physnn-icd
echo "$LIB" > /tmp/physnn-icd/vendor.icd
export OCL_ICD_VENDORS=/tmp/physnn-icd PHYSNN_CACHE_DIR=/tmp/physnn-cache
PY=${PYTHON:-python3}
N=${POINTS:-4194304}
nvidia-smi -L 2>/dev/null
nproc
"$D/bin/residual-bench" -d opencl -g 256x256 -f ${FRAMES:-3000}
"$D/bin/residual-bench" -d opencl -n "$N" -r 10
"$PY" "$D/torch_residual.py" --onnx "$D/heat1d_pinn.onnx" --device cuda \
    --frames 500 --points "$N" --repeat 10
