#!/usr/bin/env bash
# Builds fuzz-onnx with clang's libFuzzer and sanitizers and runs it for a
# bounded time from the committed seed corpus. Exit 77 (skip) when clang or
# its fuzzer runtime is missing; non-zero on any finding.
# usage: run-fuzz.sh SOURCE_DIR BUILD_DIR [SECONDS]
set -euo pipefail
SRC=$1
BUILD=$2
SECONDS_=${3:-${PHYSNN_FUZZ_SECONDS:-30}}
CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null; then
  echo "SKIP: $CC not installed (apt-get install clang libclang-rt-14-dev)"
  exit 77
fi
OUT=$BUILD/tests/fuzz
mkdir -p "$OUT"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' \
  > "$OUT/probe.c"
if ! "$CC" -fsanitize=fuzzer "$OUT/probe.c" -o "$OUT/probe" 2>/dev/null; then
  echo "SKIP: $CC has no libFuzzer runtime (apt-get install libclang-rt-14-dev)"
  exit 77
fi
CFLAGS="-g -O1 -fno-omit-frame-pointer -DCL_TARGET_OPENCL_VERSION=120 \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I$SRC/lib -I$SRC/lib/physnn -I$BUILD/lib -I$BUILD/lib/physnn \
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
