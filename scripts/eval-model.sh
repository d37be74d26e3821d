#!/usr/bin/env bash
# Measures the bundled default model against the random fixture model (issue 5 / docs/default-model.md):
#   1. dictionary-word share of the answers to the 20 held-out prompts at generate's defaults, and the
#      masked-token loss on held-out text (tools/eval-model.cpp);
#   2. attention structure from captured runs: normalised entropy, sink mass and local mass per layer
#      (dlmscope generate --visualize-attention + dlmscope analyze, summarised by tools/attention-summary.py).
# usage: scripts/eval-model.sh [MODEL_DIR] [BASELINE_DIR]      results go to ${OUT:-out/eval}
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-models/mmada-fortunes}"
BASE="${2:-models/mmada-tiny-random}"
HELDOUT="${HELDOUT:-models/mmada-fortunes/heldout.json}"
OUT="${OUT:-out/eval}"
RUNS="${RUNS:-4}"   # held-out prompts captured for the attention summary
[ -x build/dlmscope ] && [ -x build/tools/dlmscope-eval-model ] || bash scripts/build.sh
[ -f /usr/share/dict/american-english ] || { echo "eval-model.sh: install the Debian package wamerican" >&2; exit 1; }
mkdir -p "$OUT"

declare -A reports
for m in "$MODEL" "$BASE"; do
  name=$(basename "$m")
  echo "== $name: held-out prompts and masked-token loss"
  ./build/tools/dlmscope-eval-model --model "$m" --heldout "$HELDOUT" --json "$OUT/$name.json" > "$OUT/$name.txt"
  tail -6 "$OUT/$name.txt"
  files=()
  for i in $(seq 0 $((RUNS - 1))); do
    prompt=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["prompts"][int(sys.argv[2])])' "$HELDOUT" "$i")
    rm -rf "$OUT/$name-run$i" "$OUT/$name-analysis$i"
    ./build/dlmscope generate "$prompt" --model "$m" --visualize-attention --out "$OUT/$name-run$i" > /dev/null 2>&1
    ./build/dlmscope analyze --input "$OUT/$name-run$i" --output "$OUT/$name-analysis$i" --no-visualizations > /dev/null 2>&1
    files+=("$OUT/$name-analysis$i/report.json")
  done
  reports[$name]=$(IFS=,; echo "${files[*]}")
  echo
done
echo "== attention structure ($RUNS captured runs each, generate defaults)"
python3 tools/attention-summary.py "$(basename "$MODEL")=${reports[$(basename "$MODEL")]}" \
  "$(basename "$BASE")=${reports[$(basename "$BASE")]}" --json "$OUT/attention.json"
echo
echo "results: $OUT/{$(basename "$MODEL"),$(basename "$BASE")}.{txt,json}, $OUT/attention.json"
