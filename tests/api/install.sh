#!/usr/bin/env bash
# Installs dlmscope (cmake --install) into a scratch prefix, builds tests/api/consumer against it with
# find_package(dlmscope), runs it on the tiny model and checks what it prints; then installs the
# Python package into a fresh virtual environment with scripts/install-python.sh and imports it
# from outside the checkout.
# usage: install.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
SRC=$1 BUILD=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
cmake --install "$BUILD" --prefix "$WORK/prefix" --component library >/dev/null
cmake -S "$SRC/tests/api/consumer" -B "$WORK/consumer" -DCMAKE_PREFIX_PATH="$WORK/prefix" >/dev/null
cmake --build "$WORK/consumer" >/dev/null
if grep -rq '"engine/\|"capture/\|"core/\|nlohmann\|<fmt/' "$WORK/prefix/include/dlmscope"; then
    echo "FAIL: an installed public header includes an internal or third-party header"; exit 1
fi
out=$(LD_LIBRARY_PATH="$WORK/prefix/lib" "$WORK/consumer/consumer" "$SRC/tests/fixtures/mmada-tiny/checkpoint" "$WORK/run")
echo "$out"
grep -q "^steps 8 maps 16 analysed 8 layers 1$" <<<"$out" || { echo "FAIL: consumer output"; exit 1; }
[ -f "$WORK/run/generation_with_attention.json" ] || { echo "FAIL: no run written"; exit 1; }
echo "ok: find_package(dlmscope) consumer"

/usr/bin/python3 -m venv --without-pip --system-site-packages "$WORK/venv"
BUILD_DIR="$BUILD" bash "$SRC/scripts/install-python.sh" "$WORK/venv/bin/python" 2>&1 | tail -1
cd "$WORK"
"$WORK/venv/bin/python" - "$SRC/tests/fixtures/mmada-tiny/checkpoint" <<'PY'
import sys, dlmscope
assert dlmscope.__file__.startswith(sys.prefix), dlmscope.__file__
text, history, tok, history_file, maps = dlmscope.generate_text("Hi", 16, 4, 16, model=sys.argv[1])
assert history.shape[0] == 5 and history_file is None and len(maps) == 0
print("ok: dlmscope imported from the virtual environment:", dlmscope.__file__)
PY
