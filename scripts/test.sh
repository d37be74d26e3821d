#!/usr/bin/env bash
# The README's second command (and CI's): install packages, build with -Werror, run every test
# (unit, parity, cli), then build the unit tests under ASan+UBSan and run them again, then fuzz every
# file parser for FUZZ_SECONDS (default 30) each with libFuzzer (scripts/fuzz.sh; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS=${JOBS:-$(nproc)}

echo "== build (Release, -Werror)"
BUILD_DIR=build-ci bash scripts/build.sh -DDLMSCOPE_FATAL_WARNINGS=ON
echo "== kernel backends on this CPU (the per-backend tests of the others are skipped)"
./build-ci/dlmscope inspect models/mmada-fortunes | grep -E '^(cpu|backend) '
echo "== tests (unit, parity, cli)"
ctest --test-dir build-ci --output-on-failure -j "$JOBS"

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
# -O1 -g1 (line tables, enough for the sanitizers' reports) compiles in half the time of -O2 -g.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
    -DDLMSCOPE_FATAL_WARNINGS=ON \
    -DDLMSCOPE_SANITIZE_ADDRESS=ON -DDLMSCOPE_SANITIZE_UNDEFINED=ON -DDLMSCOPE_BUILD_BENCH=OFF >/dev/null
# The gtest suites of tests/unit, and the replays of the fuzz harnesses' corpora (fuzz/CMakeLists.txt).
UNIT_TARGETS="$(sed -n 's/.*dlmscope_add_test(NAME \([^ ]*\).*/\1/p' tests/unit/tests.cmake) fuzz-replay"
# shellcheck disable=SC2086
cmake --build build-asan -j "$JOBS" --target $UNIT_TARGETS
ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
    ctest --test-dir build-asan -L unit --output-on-failure -j "$JOBS"

if [ "${FUZZ_SECONDS:-30}" != 0 ]; then
  echo "== fuzzing every file parser (libFuzzer, ${FUZZ_SECONDS:-30} s per harness)"
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
fi
