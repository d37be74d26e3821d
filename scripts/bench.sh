#!/usr/bin/env bash
# The forward-pass benchmark: this machine's peaks (f32 FMA, AVX512-BF16 dot, AMX tiles, memory
# read bandwidth), then one forward at canvas 160 per backend, precision, 1 vs all threads and
# capture off vs on, for the ~100M and ~1B random presets, and with --8b the 8B shape (LLaDA-8B's
# exact tensor shapes, random weights, 14.9 GiB bf16, written once to the cache and reused).
#
#   scripts/bench.sh                 # 100m and 1b, every backend this CPU runs
#   scripts/bench.sh --8b            # also the 8B shape (needs ~16 GiB of disk and ~17 GiB of memory),
#                                    # and one whole 128-token answer on it (block 32, 32 steps, bf16,
#                                    # default capture) through `dlmscope generate`: wall time, peak RSS
#   scripts/bench.sh --json          # further arguments go to dlmscope-bench-forward
#   scripts/bench.sh --generate      # also the end-to-end generation benchmark (dlmscope-bench, 100m)
#
# Environment: BUILD_DIR (default build-bench), BENCH_CACHE (default $BUILD_DIR/bench-models),
# JOBS (default 2), BACKENDS_8B (default auto: the fastest backend; "available" for all of them).
# Run it on a quiet machine: other load on the cores lowers every figure (the load average is printed).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"
WITH_8B=0
WITH_GENERATE=0
ARGS=()
for a in "$@"; do
  case "$a" in
    --8b) WITH_8B=1 ;;
    --generate) WITH_GENERATE=1 ;;
    *) ARGS+=("$a") ;;
  esac
done

bench_build dlmscope dlmscope-make-checkpoint dlmscope-bench-forward dlmscope-bench

BENCH="$BUILD_DIR/bench/dlmscope-bench-forward"
"$BENCH" "$(preset 100m)" "$(preset 1b)" --canvas 160 "${ARGS[@]}"
if [ "$WITH_8B" = 1 ]; then
  # One backend by default: each load packs 15 GiB, and an f32 forward of the avx512 path takes ~15 s.
  "$BENCH" "$(preset 8b)" --canvas 160 --backends "${BACKENDS_8B:-auto}" --reps 2 "${ARGS[@]}"
  # The answer a user waits for: load, 32 forwards with capture, the run written to disk.
  OUT="$(mktemp -d)"
  echo "== 8B answer: generate --gen-length 128 --block-length 32 --steps 32 --precision bf16 --visualize-attention"
  /usr/bin/time -f "wall %e s, peak RSS %M KiB" "$BUILD_DIR/dlmscope" generate "Explain why the sky is blue." \
    --model "$(preset 8b)" --gen-length 128 --block-length 32 --steps 32 --precision bf16 --visualize-attention \
    --out "$OUT" >/dev/null
  rm -rf "$OUT"
fi
if [ "$WITH_GENERATE" = 1 ]; then
  "$BUILD_DIR/bench/dlmscope-bench" "$(preset 100m)" --gen-length 128 --block-length 32 --steps 128 --prompt-tokens 32
fi
