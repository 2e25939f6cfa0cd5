# Shared set-up of the libFuzzer runners (sourced by run-fuzz*.sh).
# Expects SRC, BUILD and PROBE (a name for the probe program) to be set;
# sets CC, OUT and FUZZ_CFLAGS (sanitizers, include paths; the runner adds
# its own pkg-config flags), or exits 77 (skip) when clang or its fuzzer
# runtime is missing.
CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null; then
  echo "SKIP: $CC not installed (apt-get install clang libclang-rt-14-dev)"
  exit 77
fi
OUT=$BUILD/tests/fuzz
mkdir -p "$OUT"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' \
  > "$OUT/$PROBE.c"
if ! "$CC" -fsanitize=fuzzer "$OUT/$PROBE.c" -o "$OUT/$PROBE" 2>/dev/null; then
  echo "SKIP: $CC has no libFuzzer runtime (apt-get install libclang-rt-14-dev)"
  exit 77
fi
# -error_exitcode/-timeout_exitcode=1 on every run: libFuzzer's default 77
# would read as "skipped" to meson.
FUZZ_CFLAGS="-g -O1 -fno-omit-frame-pointer -DCL_TARGET_OPENCL_VERSION=120 \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I$SRC/lib -I$SRC/lib/physnn -I$BUILD/lib -I$BUILD/lib/physnn"
