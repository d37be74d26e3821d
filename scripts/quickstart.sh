#!/usr/bin/env bash
# The README's first command: install the Debian packages, build, and run the main job on the
# bundled default model (models/mmada-fortunes, docs/default-model.md) — generate with attention
# capture, analyse, draw the figures and write the offline viewer — printing where everything went.
# It replaces the run in $OUT/generation_with_attention.json (--overwrite): run it again and the
# demo starts afresh; point OUT elsewhere to keep a run there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The CLI and the Python module alone: tests and benchmarks are the test command's (scripts/test.sh).
TARGETS="dlmscope dlmscope_python" bash scripts/build.sh
OUT=${OUT:-logs}
ANALYSIS=${ANALYSIS:-attention_analysis}
DEFAULT_PROMPT="Complete this: A woman shouldn't have"  # the first words of a held-out saying
PROMPT=${PROMPT:-$DEFAULT_PROMPT}
echo "== dlmscope inspect models/mmada-fortunes"
./build/dlmscope inspect models/mmada-fortunes
echo
echo "== dlmscope generate \"$PROMPT\" --visualize-attention"
./build/dlmscope generate "$PROMPT" --gen-length 128 --block-length 32 --steps 128 --visualize-attention --out "$OUT" \
    --overwrite
echo
echo "== dlmscope analyze --input $OUT --output $ANALYSIS"
./build/dlmscope analyze --input "$OUT" --output "$ANALYSIS"
echo
echo "== where everything went"
echo "run manifest        $OUT/generation_with_attention.json"
echo "captured steps      $OUT/generation_with_attention/step_*.npz (+ history.npy)"
echo "metrics             $ANALYSIS/report.json, $ANALYSIS/metrics.csv"
echo "figures             $ANALYSIS/figures/"
echo "interactive viewer  $ANALYSIS/viewer.html (open it in a browser; works offline)"
echo "from Python         PYTHONPATH=build/python /usr/bin/python3 -c 'import dlmscope; print(dlmscope.open_run(\"$OUT\"))'"
echo "                    (scripts/install-python.sh installs the package into a virtual environment)"
