#!/usr/bin/env bash
# Installs the Python package `dlmscope` into the site-packages of an interpreter (default: the
# `python3` first on PATH, so inside an activated virtual environment, that environment's).
#
#   python3 -m venv --system-site-packages .venv && . .venv/bin/activate   # numpy from Debian
#   bash scripts/install-python.sh                                          # or: ... PYTHON
#
# No package index is needed: the module is built from this checkout (BUILD_DIR, default build/)
# and its folder build/python/dlmscope is copied into the interpreter's site-packages. An
# interpreter of another Python version gets its own build folder (build-python3.X).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=$(command -v "${1:-python3}")
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
"$PYTHON" -c "import numpy" 2>/dev/null || {
    echo "install-python: $PYTHON has no numpy; make the environment with --system-site-packages (Debian's python3-numpy)" >&2
    exit 1
}
read -r SITE SUFFIX VERSION < <("$PYTHON" -c "import sys, sysconfig; print(sysconfig.get_path('platlib'), sysconfig.get_config_var('EXT_SUFFIX'), '%d.%d' % sys.version_info[:2])")
[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target dlmscope_python
if [ ! -f "$BUILD_DIR/python/dlmscope/_dlmscope$SUFFIX" ]; then
    # The module in BUILD_DIR is for another Python: build one for this interpreter beside it.
    BUILD_DIR="build-python$VERSION"
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$PYTHON" -DDLMSCOPE_BUILD_TESTS=OFF \
        -DDLMSCOPE_BUILD_TOOLS=OFF -DDLMSCOPE_BUILD_BENCH=OFF >/dev/null
    cmake --build "$BUILD_DIR" -j "$JOBS" --target dlmscope_python
fi
mkdir -p "$SITE"
rm -rf "${SITE:?}/dlmscope"
cp -r "$BUILD_DIR/python/dlmscope" "$SITE/dlmscope"
echo "install-python: dlmscope installed into $SITE/dlmscope" >&2
