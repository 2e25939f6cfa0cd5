#!/usr/bin/env bash
# Runs snn-bench from a bundle made by make-snn-bundle.sh on a GPU machine,
# through the vendor's OpenCL driver: the 784-1000-10 network of
# bench/snn_compare.py, a wider one at three input activities, a deep one,
# and the dense path forced; one JSON line each (docs/snn.md).
# usage: run.sh [OPENCL_LIBRARY]
D=$(cd "$(dirname "$0")" && pwd)
LIB=${1:-/usr/local/nvidia/lib64/libnvidia-opencl.so.1}
export LD_LIBRARY_PATH=$D/lib
mkdir -p /tmp/physnn-icd; echo "$LIB" > /tmp/physnn-icd/vendor.icd
export OCL_ICD_VENDORS=/tmp/physnn-icd PHYSNN_CACHE_DIR=/tmp/physnn-cache
nvidia-smi -L
B=$D/bin/snn-bench
$B -d opencl -s 20000 -r 5 --peak-gbs 3000
$B -d cpu -s 20000 -r 3
for a in 0.01 0.05 0.2; do $B -d opencl -s 20000 -r 5 -a $a -l 784,10000,10 --peak-gbs 3000; done
$B -d opencl -s 4000 -r 3 -a 0.05 -l 4096,16384,16384,10 --peak-gbs 3000
$B -d opencl -s 20000 -r 3 -e 0 --peak-gbs 3000
