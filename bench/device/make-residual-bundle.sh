#!/usr/bin/env bash
# Builds a self-contained directory for the residual benchmark on a machine
# with an OpenCL driver and PyTorch but no GLib development files (the lent
# GPU machine): residual-bench, libphysnn and the shared libraries it needs
# from this system (not the C library), the shipped heat PINN (also as .npz
# for a PyTorch without the onnx package), torch_residual.py and
# run-residual.sh. usage: make-residual-bundle.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${PHYSNN_BUILD_DIR:-build}
OUT=${1:-$BUILD/resbench}
meson compile -C "$BUILD" residual-bench >/dev/null
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"
cp "$BUILD/bench/residual-bench" "$OUT/bin/"
ldd "$BUILD/bench/residual-bench" | awk '/=>/ { print $3 }' | sort -u |
  while read -r lib; do
    case $(basename "$lib") in
      libc.so*|libm.so*|libpthread*|libdl.so*|ld-linux*|libstdc++*|libgcc_s*|librt.so*) ;;
      *) cp -L "$lib" "$OUT/lib/" ;;
    esac
  done
cp models/heat1d_pinn.onnx bench/torch_residual.py bench/device/run-residual.sh "$OUT/"
/usr/bin/python3 bench/torch_residual.py --onnx "$OUT/heat1d_pinn.onnx" --dump
du -sh "$OUT"
