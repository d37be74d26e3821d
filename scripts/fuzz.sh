#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ (clang-16, ASan + UBSan + leak detection) in build-fuzz
# and runs each for SECONDS (default 30) on a scratch copy of its seed corpus and regressions; the
# committed corpus is never written. Prints the executions per harness and exits non-zero on any
# crash, sanitizer report, leak, timeout or out-of-memory; the input is saved under
# build-fuzz/crashes/<harness>/ (docs/fuzzing.md says how to turn it into a regression). A harness
# with a dictionary (fuzz/dict/<harness>.dict: the keys its parser looks for) runs with it.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     e.g. scripts/fuzz.sh 300 npz
set -euo pipefail
cd "$(dirname "$0")/.."
TIME=${1:-30}
shift || true
JOBS=${JOBS:-$(nproc)}
BUILD=build-fuzz

names=("$@")
if ((${#names[@]} == 0)); then
  for f in fuzz/fuzz-*.cpp; do
    n=${f#fuzz/fuzz-}
    names+=("${n%.cpp}")
  done
fi

echo "== fuzz: building ${#names[@]} harnesses (clang-16, -fsanitize=fuzzer,address,undefined)"
CC=clang-16 CXX=clang++-16 cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDLMSCOPE_BUILD_FUZZERS=ON \
    -DDLMSCOPE_BUILD_TESTS=OFF -DDLMSCOPE_BUILD_TOOLS=OFF -DDLMSCOPE_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target "${names[@]/#/fuzz-}" >"$BUILD/build.log" 2>&1 ||
  { tail -50 "$BUILD/build.log"; echo "fuzz: build failed (log $BUILD/build.log)" >&2; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== fuzz: ${TIME} s per harness"
failed=()
for name in "${names[@]}"; do
  work=$BUILD/work/$name
  crashes=$BUILD/crashes/$name
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/tmp" "$crashes"
  for d in "fuzz/corpus/$name" "fuzz/regressions/$name"; do
    [ -d "$d" ] && cp "$d"/* "$work/corpus/"
  done
  dict=()
  [ -f "fuzz/dict/$name.dict" ] && dict=(-dict="fuzz/dict/$name.dict")
  rc=0
  # TMPDIR: a harness's scratch directory (fuzz/fuzz-util.h) left behind by a crash stays in build-fuzz.
  TMPDIR="$PWD/$work/tmp" "$BUILD/fuzz/fuzz-$name" -max_total_time="$TIME" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "${dict[@]}" -artifact_prefix="$crashes/" "$work/corpus" >"$work/log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  [ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/log" | tail -1)
  corpus=$(find "$work/corpus" -type f | wc -l)
  if ((rc == 0)); then
    printf '%-18s ok     %10s executions in %s s (corpus %s inputs)\n' "$name" "${runs:-?}" "$TIME" "$corpus"
  else
    printf '%-18s FAILED %10s executions, exit %s; log %s\n' "$name" "${runs:-?}" "$rc" "$work/log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|dlmscope: internal error|terminate called|  what\(\)|artifact_prefix|Test unit written)' \
        "$work/log" | head -20 || true
    failed+=("$name")
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs under $BUILD/crashes/)" >&2
  exit 1
fi
echo "fuzz: all ${#names[@]} harnesses ran clean"
