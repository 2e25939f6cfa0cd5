#!/usr/bin/env bash
# Builds a self-contained benchmark directory for a machine that has an
# OpenCL driver but no GLib development files (the lent GPU machine): the
# benchmark and CLI binaries, libphysnn, the shared libraries they need from
# this system (not the C library, which the target has in a newer version),
# and the scripts. usage: make-bundle.sh [OUTDIR]  (default build/devbench)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${PHYSNN_BUILD_DIR:-build}
OUT=${1:-$BUILD/devbench}
meson compile -C "$BUILD" pinn-bench physnn >/dev/null
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"
cp "$BUILD/bench/pinn-bench" "$BUILD/tools/physnn" "$OUT/bin/"
for bin in "$BUILD/bench/pinn-bench" "$BUILD/tools/physnn"; do
  ldd "$bin" | awk '/=>/ { print $3 }'
done | sort -u | while read -r lib; do
  case $(basename "$lib") in
    libc.so*|libm.so*|libpthread*|libdl.so*|ld-linux*|libstdc++*|libgcc_s*|librt.so*) ;;
    *) cp -L "$lib" "$OUT/lib/" ;;
  esac
done
cp bench/torch_pinn.py bench/device/run-gpu.sh "$OUT/"
du -sh "$OUT"
