#!/usr/bin/env bash
# Runs the PINN benchmarks from a bundle made by make-bundle.sh on a GPU
# machine: physnn through the vendor's OpenCL driver side by side with
# PyTorch CUDA on the same GPU, the same models and points, plus a check of
# physnn's results against PyTorch in float64 (tensor-core and FP32 kernels),
# and sweeps of tile shapes (TILES for the FP32 kernel, TCTILES=WM:PW:P for
# the tensor-core one).
# usage: run-gpu.sh [OPENCL_LIBRARY]   results as JSON lines on stdout
set -u
D=$(cd "$(dirname "$0")" && pwd)
LIB=${1:-/usr/local/nvidia/lib64/libnvidia-opencl.so.1}
export LD_LIBRARY_PATH=$D/lib
mkdir -p /tmp/physnn-icd
echo "$LIB" > /tmp/physnn-icd/vendor.icd
export OCL_ICD_VENDORS=/tmp/physnn-icd PHYSNN_CACHE_DIR=/tmp/physnn-cache
N=${POINTS:-4194304}
PY=${PYTHON:-python3}
nvidia-smi -L 2>/dev/null
"$D/bin/physnn" devices -v
for W in ${WIDTHS:-2,64,64,64,1 2,128,128,128,128,1}; do
  echo "== MLP $W, $N points"
  "$PY" "$D/torch_pinn.py" --device cuda --widths "$W" --points "$N" \
      --onnx /tmp/m.onnx --repeat 20
  "$D/bin/pinn-bench" -m /tmp/m.onnx -n "$N" -d opencl -r 20 -k --dump /tmp/chk
  "$PY" "$D/torch_pinn.py" --device cpu --widths "$W" --points 64 \
      --repeat 1 --check /tmp/chk
  echo "-- tensor cores (PHYSNN_MLP_TC=1, 3xTF32)"
  PHYSNN_MLP_TC=1 "$D/bin/pinn-bench" -m /tmp/m.onnx -n "$N" -d opencl -r 20 -k \
      --dump /tmp/chktc
  "$PY" "$D/torch_pinn.py" --device cpu --widths "$W" --points 64 \
      --repeat 1 --check /tmp/chktc
  PHYSNN_MLP=0 "$D/bin/pinn-bench" -m /tmp/m.onnx -n "$N" -d opencl -r 5 -k
  for T in ${TCTILES:-}; do
    IFS=: read -r WM PW P <<< "$T"
    echo "-- tensor-core tile WM=$WM PW=$PW P=$P"
    PHYSNN_MLP_TC=1 PHYSNN_MLP_TC_WM=$WM PHYSNN_MLP_TC_PW=$PW PHYSNN_MLP_TC_P=$P \
        "$D/bin/pinn-bench" -m /tmp/m.onnx -n "$N" -d opencl -r 10 -k
  done
  for T in ${TILES:-}; do
    IFS=: read -r RN RP P <<< "$T"
    echo "-- tile RN=$RN RP=$RP P=$P"
    PHYSNN_MLP_RN=$RN PHYSNN_MLP_RP=$RP PHYSNN_MLP_P=$P \
        "$D/bin/pinn-bench" -m /tmp/m.onnx -n "$N" -d opencl -r 10 -k
  done
done
