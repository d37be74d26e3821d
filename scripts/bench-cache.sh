#!/usr/bin/env bash
# Cached and threshold decoding (Fast-dLLM), measured side by side in one run:
#   1. per-step forward cost of a full, a prefix-cached and a dual-cached step at canvas 160 /
#      block 32, capture off and on, on the bundled model and the ~1B preset;
#   2. whole generations of 256 tokens (block 32): the plain sampler (256 steps) against
#      --cache dual --parallel-threshold 0.9, with the token agreement of the two, on the same models;
#   3. with --8b, the answer a user waits for on the 8B shape: 128 tokens, block 32, 32 steps, dual
#      cache, bf16, default capture, through `dlmscope generate` (wall time, peak RSS), and the
#      same without a cache for comparison.
#
#   scripts/bench-cache.sh           # bundled model + 1B preset
#   scripts/bench-cache.sh --8b      # also the 8B shape (~16 GiB disk, ~17 GiB memory, a few minutes)
#
# Environment: BUILD_DIR (default build-bench), BENCH_CACHE (default $BUILD_DIR/bench-models), JOBS.
# Random-weight presets have flat confidences (a 0.9 threshold commits one token per step there), so
# threshold speedups are meaningful on the trained bundled model only.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench-common.sh"
WITH_8B=0
for a in "$@"; do
  case "$a" in
    --8b) WITH_8B=1 ;;
    *) echo "bench-cache.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

bench_build dlmscope dlmscope-make-checkpoint dlmscope-bench-cache

BENCH="$BUILD_DIR/bench/dlmscope-bench-cache"
echo "== bundled model (f32)"
"$BENCH" "$ROOT/models/mmada-fortunes" --generate --gen-length 256 --gen-block 32 --gen-steps 256 --threshold 0.9
echo "== ~1B preset (bf16)"
"$BENCH" "$(preset 1b)" --precision bf16 --generate --gen-length 256 --gen-block 32 --gen-steps 256 --threshold 0.9

if [ "$WITH_8B" = 1 ]; then
  OUT="$(mktemp -d)"
  for cache in dual none; do
    echo "== 8B answer: generate --gen-length 128 --block-length 32 --steps 32 --cache $cache --precision bf16 --visualize-attention"
    /usr/bin/time -f "wall %e s, peak RSS %M KiB" "$BUILD_DIR/dlmscope" generate "Explain why the sky is blue." \
      --model "$(preset 8b)" --gen-length 128 --block-length 32 --steps 32 --cache "$cache" --precision bf16 \
      --visualize-attention --out "$OUT/$cache" >/dev/null
  done
  rm -rf "$OUT"
fi
