#!/usr/bin/env bash
# Builds a self-contained directory for the lent GPU machine (an OpenCL
# driver, no GLib development files): quant-bench, libphysnn and the shared
# libraries they need, plus the models and plans a bench/quant_table.py run
# wrote. usage: make-quant-bundle.sh RESULTS_DIR [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${PHYSNN_BUILD_DIR:-build}
RES=$1
OUT=${2:-$BUILD/quantbench}
meson compile -C "$BUILD" quant-bench >/dev/null
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib" "$OUT/res"
cp "$BUILD/bench/quant-bench" "$OUT/bin/"
ldd "$BUILD/bench/quant-bench" | awk '/=>/ { print $3 }' | sort -u |
  while read -r lib; do
    case $(basename "$lib") in
      libc.so*|libm.so*|libpthread*|libdl.so*|ld-linux*|libstdc++*|libgcc_s*|librt.so*) ;;
      *) cp -L "$lib" "$OUT/lib/" ;;
    esac
  done
cp "$RES"/*.onnx "$RES"/*-uniform-*.json "$RES"/*-nsga2-*.json \
  "$RES"/*-greedy-*.json "$OUT/res/"
cp bench/device/run-quant.sh "$OUT/"
du -sh "$OUT"
