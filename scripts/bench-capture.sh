#!/usr/bin/env bash
# Capture overhead, measured in one run on the ~100M random checkpoint (gen_length 128, block_length 32,
# steps 128): generation time without capture, with the default capture (head mean, f16, all steps and
# layers), statistics only, and every head in f16; bytes written and peak RSS of each.
#   scripts/bench-capture.sh            (builds Release and writes the checkpoint as scripts/bench.sh does)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-bench}"
PRESET="${PRESET:-100m}"
MODEL_DIR="$BUILD_DIR/bench-models/mmada-$PRESET"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target dlmscope dlmscope-make-checkpoint >/dev/null
[ -f "$MODEL_DIR/model.safetensors.index.json" ] || "$BUILD_DIR/tools/dlmscope-make-checkpoint" --preset "$PRESET" "$MODEL_DIR" >&2
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
PROMPT="Explain in a few sentences why the sky is blue during the day and red at sunset, please."
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-22s %10s %10s %12s %12s\n" mode "generate_s" "overhead" "bytes" "peak_rss_MB"
base=""
for mode in none default stats-only all-heads-f16; do
  case $mode in
    none) extra=(--save-history) ;;
    default) extra=(--visualize-attention) ;;
    stats-only) extra=(--visualize-attention --capture-heads none) ;;
    all-heads-f16) extra=(--visualize-attention --capture-heads all --capture-dtype f16) ;;
  esac
  /usr/bin/time -f "%M" -o "$OUT/rss" "$BUILD_DIR/dlmscope" generate "$PROMPT" --model "$MODEL_DIR" --gen-length 128 \
      --block-length 32 --steps 128 --out "$OUT/$mode" -q "${extra[@]}" >/dev/null
  gen=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['timings']['generate_s'])" "$OUT/$mode/generation_with_attention.json")
  bytes=$(du -sb "$OUT/$mode" | cut -f1)
  rss=$(( $(cat "$OUT/rss") / 1024 ))
  [ -n "$base" ] || base=$gen
  over=$(/usr/bin/python3 -c "print(f'{100*($gen/$base-1):+.1f}%')")
  printf "%-22s %10.2f %10s %12d %12d\n" "$mode" "$gen" "$over" "$bytes" "$rss"
done
