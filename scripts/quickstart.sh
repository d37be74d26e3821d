#!/usr/bin/env bash
# The README's first command: install the Debian packages, build, and run the main job on the
# bundled default model (generate with history), printing where everything went.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
OUT=${OUT:-logs}
PROMPT=${PROMPT:-What is the capital of France?}
echo "== dlmscope inspect (bundled model)"
./build/dlmscope inspect models/mmada-tiny-random
echo "== dlmscope generate \"$PROMPT\""
./build/dlmscope generate "$PROMPT" --gen-length 128 --block-length 32 --steps 128 --save-history --out "$OUT"
echo "== outputs"
echo "run manifest:        $OUT/generation_with_attention.json"
echo "per-step canvases:   $OUT/generation_with_attention/history.npy"
