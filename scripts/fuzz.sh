#!/usr/bin/env bash
# Runs the libFuzzer targets of test/fuzz (docs/fuzzing.md).
#   scripts/fuzz.sh TARGET|all SECONDS        e.g. scripts/fuzz.sh bus_metrics 60
#   scripts/fuzz.sh "bus_header trace" 600    several targets
#   JOBS=2 scripts/fuzz.sh all 60             two targets at a time
#   FUZZ_BUILD_ONLY=1 scripts/fuzz.sh all 1   build the targets, run nothing
# Configures and builds the clang fuzz build in ${BUILD_DIR:-build-fuzz} (only the fuzz
# targets), then runs each target for SECONDS under `nice`, starting from its seed
# corpus (test/fuzz/corpus/TARGET, never written to) plus a working corpus kept in
# ${OUT:-out/fuzz}/TARGET/corpus. Prints one line per target: executions, cov, ft,
# corpus size, crashes. Crash, leak and timeout inputs land in OUT/TARGET/; the exit
# status is 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ]; then
  echo "usage: $0 TARGET|all SECONDS" >&2
  exit 2
fi
WHAT=$1
SECS=$2
BUILD_DIR=${BUILD_DIR:-build-fuzz}
OUT=${OUT:-out/fuzz}
JOBS=${JOBS:-1}
NICE=${NICE:-10}

ALL=$(sed -n 's/^ *"\([a-z_]*\):[a-z_]*"$/\1/p' test/fuzz/CMakeLists.txt)
if [ "$WHAT" = all ]; then
  TARGETS=$ALL
else
  TARGETS=${WHAT//,/ }
  for t in $TARGETS; do
    if ! grep -qx "$t" <<<"$ALL"; then
      echo "fuzz.sh: unknown target '$t'; targets: all" $ALL >&2
      exit 2
    fi
  done
fi

# FUZZ_BIN=DIR: run fuzz_TARGET binaries already built there; no configure or build.
BIN=${FUZZ_BIN:-$BUILD_DIR/bin}
if [ -n "${FUZZ_BIN:-}" ]; then
  :
elif [ ! -f "$BUILD_DIR/build.ninja" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DVARIANT_FUZZ=ON \
    -DVARIANT_BUILD_TESTS=OFF -DVARIANT_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
fi
# shellcheck disable=SC2046
[ -n "${FUZZ_BIN:-}" ] || cmake --build "$BUILD_DIR" -j "${BUILD_JOBS:-2}" --target $(for t in $TARGETS; do echo "fuzz_$t"; done)
# FUZZ_BUILD_ONLY=1: configure and build, run nothing (CI builds first, then sizes the run).
[ -z "${FUZZ_BUILD_ONLY:-}" ] || exit 0

run_one() {
  local t=$1 dir="$OUT/$1"
  mkdir -p "$dir/corpus"
  # -timeout: an input slower than 10 s is a finding; -rss_limit_mb: so is 2 GB.
  nice -n "$NICE" "$BIN/fuzz_$t" -max_total_time="$SECS" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" \
    "$dir/corpus" "test/fuzz/corpus/$t" >"$dir/log" 2>&1 || true
  local done_line execs crashes
  done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$dir/log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  crashes=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  printf '%-16s execs=%-10s %s crashes=%s\n' "$t" "${execs:-?}" \
    "$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' <<<"$done_line")" "$crashes"
  # What the finding was, so a CI log alone says where to look (the inputs stay in OUT).
  if [ "$crashes" -gt 0 ]; then
    grep -m4 -E 'runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|SUMMARY|Test unit written' \
      "$dir/log" | sed 's/^/    /' || true
  fi
}
export -f run_one
export OUT BIN SECS NICE
mkdir -p "$OUT"
start=$(date +%s)
# shellcheck disable=SC2086
printf '%s\n' $TARGETS | xargs -P "$JOBS" -I{} bash -c 'run_one {}' | tee "$OUT/summary.txt.tmp"
mv "$OUT/summary.txt.tmp" "$OUT/summary.txt"
echo "fuzz.sh: $(grep -c "^[^ ]" "$OUT/summary.txt") targets, $SECS s each, $JOBS at a time, $(( $(date +%s) - start )) s"
! grep -q 'crashes=[1-9]' "$OUT/summary.txt"
