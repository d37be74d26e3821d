#!/usr/bin/env bash
# Trains dlmscope's default model from scratch: text from Debian's `fortunes`, a byte-level BPE
# tokenizer (Hugging Face tokenizers, npm), then the masked-diffusion model (Debian python3-torch).
# Every step is seeded; the command and its wall time are in docs/default-model.md.
#
# usage: tools/train-model/train.sh [OUT_DIR] [extra train.py options]
#   OUT_DIR defaults to models/mmada-fortunes; WORK (default /tmp/dlmscope-train) holds the
#   intermediate text and token files.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$ROOT/models/mmada-fortunes}"
shift || true
WORK="${WORK:-/tmp/dlmscope-train}"
PY=/usr/bin/python3  # Debian's interpreter: python3-torch and python3-numpy live there

for pkg in fortunes python3-torch python3-numpy nodejs; do
  dpkg -s "$pkg" >/dev/null 2>&1 || { echo "train.sh: Debian package '$pkg' is missing (apt-get install $pkg)" >&2; exit 1; }
done
(cd "$HERE" && npm ci --no-audit --no-fund --silent)

start=$(date +%s)
mkdir -p "$WORK" "$OUT"
"$PY" "$HERE/prepare.py" "$WORK" --seed 1234
node "$HERE/tokenizer.mjs" "$WORK" "$OUT" 4090
"$PY" "$HERE/train.py" "$WORK" "$OUT" --seed 1234 "$@"
cp "$WORK/heldout.json" "$OUT/heldout.json"
mkdir -p "$ROOT/tests/fixtures/$(basename "$OUT")"
node "$HERE/golden.mjs" "$OUT" "$ROOT/tests/fixtures/$(basename "$OUT")/golden.jsonl"
echo "train.sh: done in $(( $(date +%s) - start )) s; model in $OUT"
