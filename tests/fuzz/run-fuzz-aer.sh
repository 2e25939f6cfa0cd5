#!/usr/bin/env bash
# Builds fuzz-aer (the physnn-aer spike-record reader) with clang's libFuzzer
# and sanitizers and runs it for a bounded time from seeds made here (a
# valid record and variants). Exit 77 (skip) when clang or its fuzzer
# runtime is missing; non-zero on any finding.
# usage: run-fuzz-aer.sh SOURCE_DIR BUILD_DIR [SECONDS]
set -euo pipefail
SRC=$1
BUILD=$2
SECONDS_=${3:-${PHYSNN_FUZZ_SECONDS:-30}}
PROBE=probe-aer
# shellcheck source=libfuzzer-setup.sh
. "$SRC/tests/fuzz/libfuzzer-setup.sh"
CFLAGS="$FUZZ_CFLAGS \
  $(pkg-config --cflags glib-2.0 gobject-2.0 gio-2.0 json-glib-1.0 OpenCL)"
LIBS="$(pkg-config --libs glib-2.0 gobject-2.0 gio-2.0 json-glib-1.0 OpenCL) -lm"
L=$SRC/lib/physnn
# shellcheck disable=SC2086
"$CC" $CFLAGS -o "$OUT/fuzz-aer" "$SRC/tests/fuzz/fuzz-aer.c" \
  "$L/spike-record.c" "$L/tensor.c" "$L/dtype.c" "$L/error.c" \
  "$L/device.c" "$L/kernel-cache.c" "$BUILD/lib/physnn/enums.c" $LIBS
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# seeds: a valid record, an empty one, one with a bad address
h='{"format":"physnn-aer","version":1,"neurons":4,"steps":3,"events":2,"dt":0.001,"record":"u64le step, u32le address"}'
{ printf '%s\n' "$h"; printf '\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00'
  printf '\x02\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00'; } > "$WORK/valid"
printf '%s\n' '{"format":"physnn-aer","version":1,"neurons":1,"steps":0,"events":0}' > "$WORK/empty"
{ printf '%s\n' "$h"; printf '\x00\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x00'
  printf '\x02\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00'; } > "$WORK/badaddr"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
# -error_exitcode=1: libFuzzer's default (77) would read as "skipped"
"$OUT/fuzz-aer" -max_total_time="$SECONDS_" -max_len=4096 -timeout=10 \
  -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$OUT/aer-" \
  -rss_limit_mb=2048 -print_final_stats=1 "$WORK" 2>&1 | \
  grep -E "(INITED|DONE) |stat::|ERROR|SUMMARY|Sanitizer|==[0-9]+==" | tail -n 20
