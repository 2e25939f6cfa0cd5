#!/usr/bin/env bash
# Builds a self-contained directory for the SNN benchmark on a machine with
# an OpenCL driver but no GLib development files (the lent GPU machine):
# snn-bench, libphysnn and the shared libraries they need from this system
# (not the C library), and run-snn-gpu.sh.
# usage: make-snn-bundle.sh [OUTDIR]  (default $PHYSNN_BUILD_DIR/snnbench)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${PHYSNN_BUILD_DIR:-build}
OUT=${1:-$BUILD/snnbench}
meson compile -C "$BUILD" snn-bench >/dev/null
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"
cp "$BUILD/bench/snn-bench" "$OUT/bin/"
LD_LIBRARY_PATH="$BUILD/lib/physnn" ldd "$BUILD/bench/snn-bench" |
  awk '/=>/ { print $3 }' | sort -u | while read -r lib; do
  case $(basename "$lib") in
    libc.so*|libm.so*|libpthread*|libdl.so*|ld-linux*|libstdc++*|libgcc_s*|librt.so*) ;;
    *) cp -L "$lib" "$OUT/lib/" ;;
  esac
done
cp bench/device/run-snn-gpu.sh "$OUT/run.sh"
du -sh "$OUT"
