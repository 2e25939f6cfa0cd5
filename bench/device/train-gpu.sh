#!/usr/bin/env bash
# physnn train on the lent GPU machine: the loss and its gradient on the
# GPU through OpenCL (the dense-MLP reverse path) against the C path on the
# machine's CPU cores, same problem, same budget. Copy it into a bundle made
# by make-bundle.sh (PHYSNN_BUILD_DIR=<builddir> bench/device/make-bundle.sh
# DIR) and run DIR/train-gpu.sh there.
D=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH=$D/lib
mkdir -p /tmp/physnn-icd
echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 > /tmp/physnn-icd/nv.icd
export OCL_ICD_VENDORS=/tmp/physnn-icd PHYSNN_CACHE_DIR=/tmp/physnn-cache
nvidia-smi -L; nproc
"$D/bin/physnn" devices
P=(--pde "u_t - 0.1*u_xx" --domain x=0:1,t=0:1 --condition "t=0: u - sin(pi*x)"
   --condition "x=0|x=1: u" --lr 2e-3 --seed 1 -q)
for N in ${HEAT_POINTS-8192 65536}; do
  for W in 32,32,32 64,64,64,64; do
    for dev in opencl cpu; do
      A=$([ $N -gt 10000 ] && echo 50 || echo 200)
      echo "== N=$N layers=$W device=$dev adam=$A"
      "$D/bin/physnn" train "${P[@]}" -d $dev --points $N --condition-points $((N/8)) \
        --layers $W --adam $A -o /tmp/t-$dev.onnx 2>&1 | grep -E "loss:|time|device|error"
    done
    echo "== N=$N layers=$W device=opencl float"
    PHYSNN_GRAD_CL_FLOAT=1 "$D/bin/physnn" train "${P[@]}" -d opencl --points $N \
      --condition-points $((N/8)) --layers $W --adam $A -o /tmp/t-f.onnx 2>&1 | grep -E "loss:|time|device|error"
  done
done
# The Burgers PINN of models/train_burgers_pinn.py (inputs scaled onto
# [-1,1], hard-constraint ansatz: the dense layers on the GPU, the rest on
# the host) with the reduced budget of docs/training.md, and with 8x the
# points per step.
B=(--pde "u_t + u*u_x - 0.0031830988618379*u_xx" --domain x=-1:1,t=0:1
   --scale-inputs --ansatz "-sin(pi*x) + t*(1-x^2)*N"
   --layers 20,20,20,20,20,20,20,20 --lr 1e-3 --lr-final 1e-4
   --sampling adaptive --lbfgs-rounds 2 --lbfgs-points-scale 2.5
   --lbfgs-added 1000 --lbfgs-pool 20000 --seed 2 -q)
for S in "1001 2000 300" "201 16000 50"; do
  read -r A N L <<< "$S"
  for dev in opencl cpu; do
    echo "== Burgers adam=$A points=$N lbfgs=2x$L device=$dev"
    "$D/bin/physnn" train "${B[@]}" -d $dev --adam $A --points $N --lbfgs $L \
      -o /tmp/b-$dev.onnx 2>&1 | grep -E "iterations|loss:|time|device|error"
  done
done
