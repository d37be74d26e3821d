#!/usr/bin/env bash
# Builds dlmscope in Release, writes the ~100M-parameter random checkpoint (cached), and runs the
# generation benchmark: seconds per forward, tokens/s, GFLOP/s against the measured sgemm peak, RSS.
#
#   scripts/bench.sh                 # human-readable figures
#   scripts/bench.sh --json          # any further arguments go to dlmscope-bench
#
# Environment: BUILD_DIR (default build-bench), JOBS (default 2), PRESET (100m or 1b, default 100m).
# Run it on a quiet machine: other load on the cores lowers the figures (the load average is printed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bench}"
JOBS="${JOBS:-2}"
PRESET="${PRESET:-100m}"
MODEL_DIR="$BUILD_DIR/bench-models/mmada-$PRESET"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target dlmscope-make-checkpoint dlmscope-bench >/dev/null

# The index is written last, so its presence marks a complete checkpoint.
if [ ! -f "$MODEL_DIR/model.safetensors.index.json" ]; then
  "$BUILD_DIR/tools/dlmscope-make-checkpoint" --preset "$PRESET" "$MODEL_DIR" >&2
fi

exec "$BUILD_DIR/bench/dlmscope-bench" "$MODEL_DIR" --gen-length 128 --block-length 32 --steps 128 --prompt-tokens 32 "$@"
