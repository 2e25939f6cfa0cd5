#!/usr/bin/env bash
# Builds fuzz-pde with clang's libFuzzer and sanitizers (the PDE language,
# lib/physnn/pde.c, instrumented; the rest of libphysnn from the build) and
# runs it for a bounded time from the committed seed corpus. Exit 77 (skip)
# when clang or its fuzzer runtime is missing; non-zero on any finding.
# usage: run-fuzz-pde.sh SOURCE_DIR BUILD_DIR [SECONDS]
set -euo pipefail
SRC=$1
BUILD=$2
SECONDS_=${3:-${PHYSNN_FUZZ_SECONDS:-30}}
PROBE=probe-pde
# shellcheck source=libfuzzer-setup.sh
. "$SRC/tests/fuzz/libfuzzer-setup.sh"
CFLAGS="$FUZZ_CFLAGS \
  $(pkg-config --cflags glib-2.0 gobject-2.0 gio-2.0 OpenCL)"
LIBS="-L$BUILD/lib/physnn -Wl,-rpath,$BUILD/lib/physnn -lphysnn-1.0 \
  $(pkg-config --libs glib-2.0 gobject-2.0 gio-2.0 OpenCL) -lm"
# shellcheck disable=SC2086
"$CC" $CFLAGS -o "$OUT/fuzz-pde" "$SRC/tests/fuzz/fuzz-pde.c" \
  "$SRC/lib/physnn/pde.c" $LIBS
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp "$SRC"/tests/fuzz/corpus-pde/* "$WORK/"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 PHYSNN_DEVICE=cpu
"$OUT/fuzz-pde" -max_total_time="$SECONDS_" -max_len=512 -timeout=10 \
  -rss_limit_mb=2048 -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 "$WORK" 2>&1 | \
  grep -E "(INITED|DONE) |stat::|ERROR|SUMMARY|Sanitizer|==[0-9]+==|deadly" | tail -n 20
exit "${PIPESTATUS[0]}"
