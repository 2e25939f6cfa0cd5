#!/usr/bin/env bash
# Builds fuzz-onnx with clang's libFuzzer and sanitizers and runs it for a
# bounded time from the committed seed corpus. Exit 77 (skip) when clang or
# its fuzzer runtime is missing; non-zero on any finding.
# usage: run-fuzz.sh SOURCE_DIR BUILD_DIR [SECONDS]
set -euo pipefail
SRC=$1
BUILD=$2
SECONDS_=${3:-${PHYSNN_FUZZ_SECONDS:-30}}
PROBE=probe
# shellcheck source=libfuzzer-setup.sh
. "$SRC/tests/fuzz/libfuzzer-setup.sh"
CFLAGS="$FUZZ_CFLAGS \
  $(pkg-config --cflags glib-2.0 gobject-2.0 gio-2.0 libprotobuf-c OpenCL)"
LIBS="$(pkg-config --libs glib-2.0 gobject-2.0 gio-2.0 libprotobuf-c OpenCL) -lm"
L=$SRC/lib/physnn
# shellcheck disable=SC2086
"$CC" $CFLAGS -o "$OUT/fuzz-onnx" "$SRC/tests/fuzz/fuzz-onnx.c" \
  "$L/onnx.c" "$L/graph.c" "$L/tensor.c" "$L/dtype.c" "$L/error.c" \
  "$L/device.c" "$L/kernel-cache.c" "$BUILD/lib/physnn/onnx.pb-c.c" \
  "$BUILD/lib/physnn/enums.c" $LIBS
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp "$SRC"/tests/fuzz/corpus-onnx/* "$WORK/"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
# -error_exitcode/-timeout_exitcode=1: libFuzzer's default 77 reads as "skipped"
"$OUT/fuzz-onnx" -max_total_time="$SECONDS_" -max_len=65536 -timeout=10 \
  -rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 "$WORK" 2>&1 | \
  grep -E "(INITED|DONE) |stat::|ERROR|SUMMARY|Sanitizer|==[0-9]+==" | tail -n 20
exit "${PIPESTATUS[0]}"
